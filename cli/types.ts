/**
 * The `hatake` command line: one product executable, subcommands registered in `commands/index.ts`.
 *
 * A subcommand is a module loaded only when it runs (start-up cost matters: `hatake --version` must not
 * load the builder). Its `run` gets the words after the subcommand name and the process's streams, and
 * returns the exit code. User errors are thrown as HtkError (base/errors); `hatake.ts` renders them with
 * their diagnostic ID and exits 1. Anything else is a bug and is reported as HTK-CORE-0001.
 */
export interface CommandIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM: long-running commands stop cleanly. */
  readonly signal: AbortSignal;
}

export interface Command {
  /** `dockerfile`, `build`, `engine` … */
  readonly name: string;
  /** One line for `hatake help`. */
  readonly summary: string;
  /** The full help text for `hatake help <name>` (usage line first). */
  readonly help: string;
  run(args: readonly string[], io: CommandIo): Promise<number>;
}

/** An entry of the registry: what `hatake help` shows without loading the module. */
export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  readonly load: () => Promise<Command>;
}
