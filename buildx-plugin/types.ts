import type { DockerCli } from "./docker-cli.ts";
import type { FlagSpec, ParsedFlags } from "./flags.ts";

/**
 * The `docker buildx` plugin: the official docker CLI runs `docker-buildx [global flags] buildx …`
 * (and, with the plugin installed, forwards `docker build`, `docker builder …` and `docker image build`
 * to it). `cli.ts` parses the global docker flags and buildx's own, finds the subcommand in the table
 * (`commands/index.ts`) and loads its module only then, so `docker buildx version` stays cheap.
 *
 * A command gets the resolved docker CLI environment, its parsed flags and arguments, the process's
 * streams and an AbortSignal (SIGINT, SIGTERM, or the CLI closing the plugin socket). It returns an
 * exit code; user errors are thrown as HtkError and printed as buildx does (`ERROR: …`, exit 1).
 */
export interface PluginIo {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly stdin: NodeJS.ReadableStream;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

export interface Output {
  write(text: string | Uint8Array): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
}

export interface CommandContext {
  readonly cli: DockerCli;
  readonly flags: ParsedFlags;
  readonly args: readonly string[];
  /** `--builder`, else BUILDX_BUILDER (the CLI sets it to the context name when it forwards `docker build`). */
  readonly builder?: string;
  readonly io: PluginIo;
  readonly signal: AbortSignal;
  /** `docker buildx <name>` for usage lines and errors. */
  readonly commandPath: string;
}

export type CommandRun = (ctx: CommandContext) => Promise<number>;

/** One subcommand: what help and flag parsing need, with the implementation behind `load`. */
export interface CommandSpec {
  readonly name: string;
  readonly aliases?: readonly string[];
  /** Cobra's `Use`: `build [OPTIONS] PATH | URL | -`. */
  readonly use: string;
  readonly short: string;
  /** The docker CLI commands forwarded here, for help's "Aliases:" (buildx's annotation). */
  readonly aliasesText?: string;
  readonly flags: readonly FlagSpec[];
  /** Positional argument count: exact, or a maximum. */
  readonly args?: { readonly exactly: number } | { readonly atMost: number } | { readonly atLeast: number };
  /** Hide the inherited --builder flag (ls, create, version: they do not act on one builder). */
  readonly hideBuilderFlag?: boolean;
  /** Runs long enough to be interrupted: the plugin watches the CLI's plugin socket meanwhile. */
  readonly longRunning?: boolean;
  /** Subcommands (`history ls`); a group has no `load`. */
  readonly subcommands?: readonly CommandSpec[];
  readonly load?: () => Promise<CommandRun>;
}
