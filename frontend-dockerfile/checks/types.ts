import type { DockerignoreMatcher } from "../../base/dockerignore/index.ts";
import type { Diagnostic, Range } from "../types.ts";

/**
 * Types of the build checks: BuildKit's Dockerfile linter (`frontend/dockerfile/linter`) re-created as a
 * separate pass over the parsed file. BuildKit runs its rules while it converts the Dockerfile to LLB
 * (`dockerfile2llb`); here a small scope model (stages, global and stage ARGs, ENV per stage, the
 * automatic platform ARGs) stands in for the conversion, so the checks work without a compile and the
 * compiler can call `runChecks` with the same options it builds with.
 */

/** The rules, named exactly as BuildKit names them (they appear in `# check=skip=…` and in output). */
export type RuleName =
  | "StageNameCasing"
  | "FromAsCasing"
  | "NoEmptyContinuation"
  | "ConsistentInstructionCasing"
  | "DuplicateStageName"
  | "ReservedStageName"
  | "JSONArgsRecommended"
  | "MaintainerDeprecated"
  | "UndefinedArgInFrom"
  | "WorkdirRelativePath"
  | "UndefinedVar"
  | "MultipleInstructionsDisallowed"
  | "LegacyKeyValueFormat"
  | "InvalidDefaultArgInFrom"
  | "SecretsUsedInArgOrEnv"
  | "FromPlatformFlagConstDisallowed"
  | "RedundantTargetPlatform"
  | "CopyIgnoredFile";

export interface Rule {
  readonly name: RuleName;
  /** BuildKit's `Description` (the rule's one-line summary, shown in JSON output). */
  readonly description: string;
  /** `https://docs.docker.com/go/dockerfile/rule/<kebab-name>/`. */
  readonly url: string;
  /** Off unless named in `experimental=` (or `experimental=all`); `skip=` does not apply to it. */
  readonly experimental: boolean;
}

/**
 * BuildKit's location of a finding: whole source lines (its `parser.Range` with no columns). The text
 * and JSON outputs use these, so that they match `docker build --check` line for line.
 */
export interface LineRange {
  readonly start: number;
  readonly end: number;
}

export interface Finding {
  readonly rule: RuleName;
  readonly description: string;
  readonly url: string;
  /** BuildKit's formatted message (its `detail`), e.g. "Stage name 'BuilD' should be lowercase". */
  readonly message: string;
  /** The instruction or the word the finding is about, with columns. */
  readonly range: Range;
  /** The lines BuildKit reports. */
  readonly lines: LineRange;
  /** `error` when the check configuration says `error=true`. */
  readonly severity: "warning" | "error";
}

/** The parsed `check` option string (`skip=…;experimental=…;error=true`). */
export interface CheckConfig {
  readonly skipAll: boolean;
  readonly skip: readonly string[];
  readonly experimentalAll: boolean;
  readonly experimental: readonly string[];
  readonly error: boolean;
}

/** Where the configuration came from: BuildKit lets the build-arg replace the directive entirely. */
export type CheckConfigSource = "build-arg" | "directive" | "option" | "default";

export interface CheckOptions {
  /** `--build-arg` values: ARG overrides, and `BUILDKIT_DOCKERFILE_CHECK` (replaces the directive). */
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** The build context's ignore patterns (as `readDockerignore` returns them) or a compiled matcher. */
  readonly dockerignore?: readonly string[] | DockerignoreMatcher;
  /**
   * A check option string that takes precedence over the build-arg and the directive (what a client
   * passes as BuildKit's `LinterConfig`).
   */
  readonly checkConfig?: string;
  /**
   * Build a target instead of linting: rules BuildKit runs while dispatching instructions (UndefinedVar,
   * WorkdirRelativePath, JSONArgsRecommended …) then only look at stages the target needs, as in a real
   * build. Without it every stage is checked, as `docker build --check` does.
   */
  readonly target?: string;
  /** `os/arch[/variant]`; defaults to the host's Linux platform. Feeds BUILDPLATFORM, TARGETPLATFORM … */
  readonly buildPlatform?: string;
  readonly targetPlatform?: string;
  /**
   * The environment of an image a stage starts from (`FROM alpine`), when the caller has resolved its
   * config. Unknown images are taken to define only PATH (which BuildKit always sets), so UndefinedVar
   * may warn about a variable that only the base image defines.
   */
  readonly baseImageEnv?: (imageRef: string) => readonly string[] | undefined;
}

/** Why the checks stopped early: the point where BuildKit's conversion fails with an error. */
export interface CheckStop {
  /** BuildKit's error text, e.g. "unknown instruction: COPPY". */
  readonly message: string;
  readonly range: Range;
}

export interface CheckResult {
  /** In source order. Empty when the configuration could not be parsed. */
  readonly findings: readonly Finding[];
  /** True when `error=true` is configured and there is at least one finding: the build must fail. */
  readonly asErrors: boolean;
  readonly config: CheckConfig;
  readonly configSource: CheckConfigSource;
  /** The `check` option string could not be parsed (HTK-DOCKERFILE-0302); BuildKit fails the build. */
  readonly configError?: Diagnostic;
  /** Set when a later error (which the compile reports) ended the checks, as it ends BuildKit's. */
  readonly stopped?: CheckStop;
}
