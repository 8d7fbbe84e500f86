import type { KnownDiagnosticId } from "../base/errors/index.ts";

/**
 * The Dockerfile syntax tree: the output of the parser layer, re-creating BuildKit v0.13's
 * `frontend/dockerfile/parser`. This layer turns text into instructions with raw argument words; it
 * does not expand variables, remove quotes (outside flags and JSON), validate flags or know which
 * instructions exist — the compile stage does, with `knownInstruction` / `checkInstructionName`.
 *
 * Every node carries a `kind` (switch on it, end with `assertNever`) and a `range` in the source.
 */

/** 1-based line and column. Columns count UTF-16 code units (as JS strings and LSP do); a leading BOM is not counted. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

/** `end` is exclusive: the position just after the last character. */
export interface Range {
  readonly start: Position;
  readonly end: Position;
}

/** The Dockerfile's escape character: `\` by default, a backtick under `# escape=\``. */
export type EscapeToken = "\\" | "`";

/** The instructions BuildKit's parser knows (its dispatch table), lowercased. */
export type InstructionName =
  | "add"
  | "arg"
  | "cmd"
  | "copy"
  | "entrypoint"
  | "env"
  | "expose"
  | "from"
  | "healthcheck"
  | "label"
  | "maintainer"
  | "onbuild"
  | "run"
  | "shell"
  | "stopsignal"
  | "user"
  | "volume"
  | "workdir";

/**
 * One argument word. `value` is what BuildKit stores in its node (JSON escapes decoded; shell-form text
 * verbatim, quotes and escape characters kept); `raw` is the text it came from in the logical line
 * (continuations joined; a JSON element with its quotes); `range` locates it in the source.
 */
export interface Word {
  readonly kind: "word";
  readonly value: string;
  readonly raw: string;
  readonly range: Range;
}

/**
 * A `--name[=value]` word right after the keyword. `value` is BuildKit's flag string: the whole word
 * with quotes removed and backslash escapes applied (`--x="a b"` → `--x=a b`).
 */
export interface Flag {
  readonly kind: "flag";
  readonly value: string;
  /** The part between `--` and the first `=`. */
  readonly name: string;
  /** The part after the first `=`; absent for a bare `--name`. */
  readonly argument?: string;
  readonly raw: string;
  readonly range: Range;
}

/** `name=value` (equals form) or `name value` (legacy form) of ENV and LABEL. */
export interface KeyValuePair {
  readonly kind: "key-value-pair";
  readonly key: Word;
  readonly value: Word;
  readonly range: Range;
}

/** No arguments at all (`CMD`, `HEALTHCHECK`, an unknown instruction …); nothing to locate. */
export interface NoArguments {
  readonly kind: "none";
}

/** JSON (exec) form: `["a", "b"]`. An empty array gives no words. */
export interface ExecFormArguments {
  readonly kind: "exec";
  /** The text after the flags. */
  readonly range: Range;
  readonly words: readonly Word[];
}

/** Shell form of RUN/CMD/ENTRYPOINT/SHELL (and the maybe-JSON fallback): the whole text, one word. */
export interface ShellFormArguments {
  readonly kind: "shell";
  /** The text after the flags. */
  readonly range: Range;
  readonly text: Word;
}

/** Several words: FROM/EXPOSE/ADD/COPY/VOLUME split on blanks, ARG split with quote awareness. */
export interface WordListArguments {
  readonly kind: "list";
  /** The text after the flags. */
  readonly range: Range;
  readonly words: readonly Word[];
}

/** USER, WORKDIR, MAINTAINER, STOPSIGNAL: the whole rest of the line as one word. */
export interface StringArguments {
  readonly kind: "string";
  /** The text after the flags. */
  readonly range: Range;
  readonly text: Word;
}

/** ENV and LABEL. */
export interface KeyValueArguments {
  readonly kind: "key-value";
  /** The text after the flags. */
  readonly range: Range;
  /** `legacy`: `ENV NAME value with spaces`; `equals`: `ENV a=1 b=2`. */
  readonly form: "legacy" | "equals";
  readonly pairs: readonly KeyValuePair[];
}

/** `HEALTHCHECK [flags] TYPE [command]`: TYPE is `CMD`, `NONE` … as written. */
export interface HealthcheckArguments {
  readonly kind: "healthcheck";
  /** The text after the flags. */
  readonly range: Range;
  readonly type: Word;
  readonly command: ExecFormArguments | ShellFormArguments | NoArguments;
}

/** `ONBUILD INSTRUCTION …`: the trigger is a complete instruction of its own. */
export interface OnbuildArguments {
  readonly kind: "onbuild";
  /** The text after the flags. */
  readonly range: Range;
  readonly trigger: Instruction;
}

export type InstructionArguments =
  | NoArguments
  | ExecFormArguments
  | ShellFormArguments
  | WordListArguments
  | StringArguments
  | KeyValueArguments
  | HealthcheckArguments
  | OnbuildArguments;

/** A here-document attached to RUN/COPY/ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF` …). */
export interface Heredoc {
  readonly kind: "heredoc";
  /** The terminator word, quotes removed. */
  readonly name: string;
  /** The digits before `<<` (0 when none). */
  readonly fileDescriptor: number;
  /** False when any part of the word was quoted (`<<"EOF"`, `<<'EOF'`): the body is not expanded. */
  readonly expand: boolean;
  /** `<<-`: leading tabs are stripped from the body (see `chompHeredocContent`) and the terminator. */
  readonly chomp: boolean;
  /** The body lines exactly as written, each with its line ending; tabs not yet stripped. */
  readonly content: string;
  /** From the first body line through the terminator line. */
  readonly range: Range;
}

interface InstructionCommon {
  /** The keyword as written (`Run`, `COPY` …). */
  readonly keywordText: string;
  readonly keywordRange: Range;
  readonly flags: readonly Flag[];
  readonly args: InstructionArguments;
  readonly heredocs: readonly Heredoc[];
  /**
   * BuildKit's `Node.Original`: the logical line the instruction was parsed from (continuations joined,
   * comment lines and empty continuation lines dropped, first line's indentation removed).
   */
  readonly original: string;
  /** The source text of the instruction's lines (start through last continuation line, heredoc bodies excluded). */
  readonly text: string;
  /**
   * BuildKit's `PrevComment`: the comment lines right before the instruction (directives excluded, a bare
   * `#` line restarts the list), each line minus its first character and trimmed.
   */
  readonly comments: readonly string[];
  /** From the keyword through the last continuation line (or heredoc terminator). */
  readonly range: Range;
}

export interface KnownInstruction extends InstructionCommon {
  readonly kind: "instruction";
  readonly keyword: InstructionName;
}

/**
 * An instruction word BuildKit's parser has no rule for. Not an error at this layer (BuildKit parses it
 * with no arguments); the compile stage reports it with `checkInstructionName`.
 */
export interface UnknownInstruction extends InstructionCommon {
  readonly kind: "unknown-instruction";
  /** Lowercased, as BuildKit dumps it. */
  readonly keyword: string;
}

export type Instruction = KnownInstruction | UnknownInstruction;

export type DirectiveName = "syntax" | "escape" | "check";

/** A parser directive (`# syntax=…`, `# escape=…`, `# check=…`) from the top of the file. */
export interface Directive {
  readonly kind: "directive";
  readonly name: DirectiveName;
  readonly value: string;
  readonly range: Range;
}

/** A comment line outside a continuation (parser directive lines included). */
export interface Comment {
  readonly kind: "comment";
  /** The text after `#`, blanks trimmed. */
  readonly text: string;
  readonly range: Range;
}

export interface ParsedDockerfile {
  readonly kind: "dockerfile";
  /** The whole file. */
  readonly range: Range;
  readonly instructions: readonly Instruction[];
  readonly directives: readonly Directive[];
  /** Comment lines outside continuations, in file order. */
  readonly comments: readonly Comment[];
  readonly escapeToken: EscapeToken;
  /** Number of physical lines. */
  readonly lineCount: number;
}

export type Severity = "error" | "warning";

/**
 * A problem found in user input: data, never an exception. `message` is the catalogue cause with the
 * parameters filled in; `buildkitMessage` is BuildKit's own text for the same condition, when it has one.
 */
export interface Diagnostic {
  readonly id: KnownDiagnosticId;
  readonly severity: Severity;
  readonly message: string;
  readonly next: string;
  readonly range: Range;
  readonly params: Readonly<Record<string, string | number>>;
  readonly buildkitMessage?: string;
  /** A "did you mean" suggestion, when one fits. */
  readonly suggestion?: string;
  readonly file?: string;
}

export interface ParseOptions {
  /** Shown in diagnostics (`Dockerfile` by default). */
  readonly fileName?: string;
}

export interface ParseResult {
  /** Absent when an error diagnostic was produced (BuildKit returns no tree on error). */
  readonly result?: ParsedDockerfile;
  readonly diagnostics: readonly Diagnostic[];
}
