import type { HtkError } from "../../base/errors/index.ts";

/**
 * Types of the shell-word processor (BuildKit `frontend/dockerfile/shell`).
 *
 * The processor expands `$VAR` / `${VAR…}` and removes quotes in instruction arguments (FROM, ARG/ENV
 * values, COPY/ADD paths, WORKDIR, USER, EXPOSE, LABEL, `--mount` values …). It is never used on the text
 * of shell-form RUN/CMD/ENTRYPOINT, which the container's shell expands itself.
 */

/** The Dockerfile's `# escape=` directive: backslash by default, backtick for Windows-style files. */
export type EscapeToken = "\\" | "`";

/**
 * Where the variable names are looked up. Windows treats environment names case-insensitively
 * (`$pwd` finds `PWD`), exactly as BuildKit's `NormalizeEnvKey` does when the target platform is Windows.
 */
export type ShellPlatform = "linux" | "windows";

/**
 * Something that answers "what is the value of this variable". A `Map` satisfies it. When the lexer works
 * for Windows and `keys` is present, names are matched case-insensitively over those keys; a getter
 * without `keys` is asked with the name as written and must apply its own case rules.
 */
export interface EnvGetter {
  get(name: string): string | undefined;
  keys?(): Iterable<string>;
}

/**
 * The environment, in either of BuildKit's forms: a list of `NAME=value` strings (later entries win, an
 * entry without `=` sets the name to the empty string) or a getter/map.
 */
export type ShellEnv = readonly string[] | EnvGetter;

export interface LexOptions {
  /** Default `\`. */
  readonly escapeToken?: EscapeToken;
  /** Default `linux`. */
  readonly platform?: ShellPlatform;
  /** Keep the quote characters in the result (BuildKit `RawQuotes`). */
  readonly rawQuotes?: boolean;
  /** Keep the escape characters in the result (BuildKit `RawEscapes`). */
  readonly rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (BuildKit `SkipProcessQuotes`, used for heredocs). */
  readonly skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written (BuildKit `SkipUnsetEnv`). */
  readonly skipUnsetEnv?: boolean;
}

/** Everything one pass over a word produces (BuildKit `ProcessWordResult`). */
export interface ProcessWordResult {
  /** The word as one string: quotes removed, escapes applied, variables expanded, spaces kept. */
  readonly result: string;
  /** The same input split into words like a POSIX shell (unquoted expansions are split too). */
  readonly words: readonly string[];
  /** Names that were looked up and found (set, possibly empty). The `UndefinedVar` check uses these. */
  readonly matched: ReadonlySet<string>;
  /** Names that were looked up and not set, including positional/special parameters like `1` or `@`. */
  readonly unmatched: ReadonlySet<string>;
}

/** User errors are data: every entry point returns this instead of throwing on bad input. */
export type LexResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: HtkError };
