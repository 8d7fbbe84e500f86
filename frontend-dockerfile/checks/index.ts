/**
 * BuildKit's Dockerfile build checks (lint rules), as a pass over the parsed Dockerfile:
 *
 *     const { result } = parseDockerfile(text);
 *     const { findings, asErrors } = runChecks(result, { buildArgs, dockerignore });
 *
 * Rule names, descriptions, URLs and messages are BuildKit's (v0.16/v0.17); the `# check=` directive and
 * the BUILDKIT_DOCKERFILE_CHECK build-arg configure them with BuildKit's semantics. Never throws on user
 * input: a bad configuration comes back as `configError`.
 */
export { runChecks } from "./checker.ts";
export { CHECK_BUILD_ARG, DEFAULT_CONFIG, parseCheckConfig, type ConfigParse } from "./config.ts";
export { RULES, RULE_NAMES, isRuleName } from "./rules.ts";
export {
  buildErrorOf,
  checkDiagnostics,
  checksFailedDiagnostic,
  checksFailedMessage,
  checksJson,
  findingToDiagnostic,
  formatBuildErrorText,
  formatChecksJson,
  formatChecksText,
  formatFindingShort,
  sourceFrame,
  type LintResultsJson,
  type LintWarningJson,
  type LocationJson,
  type SourceFile,
} from "./format.ts";
export type * from "./types.ts";
