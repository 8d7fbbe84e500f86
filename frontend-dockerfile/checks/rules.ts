import { goQuote } from "../chars.ts";
import type { Rule, RuleName } from "./types.ts";

/**
 * BuildKit's rule set (`frontend/dockerfile/linter/ruleset.go`, v0.16/v0.17): names, descriptions and
 * URLs are user-visible identifiers (`# check=skip=StageNameCasing`, the docs links), so they are kept
 * byte for byte. Only CopyIgnoredFile is experimental: InvalidDefaultArgInFrom has warned by default
 * since it was added (Dockerfile 1.9 / BuildKit v0.15, moby/buildkit#5113; Docker 27.1 users saw it in
 * plain builds), so it runs by default here too.
 */
const base = "https://docs.docker.com/go/dockerfile/rule/";

function rule(name: RuleName, slug: string, description: string, experimental = false): Rule {
  return { name, description, url: `${base}${slug}/`, experimental };
}

export const RULES: { readonly [K in RuleName]: Rule } = {
  StageNameCasing: rule("StageNameCasing", "stage-name-casing", "Stage names should be lowercase"),
  FromAsCasing: rule("FromAsCasing", "from-as-casing", "The 'as' keyword should match the case of the 'from' keyword"),
  NoEmptyContinuation: rule("NoEmptyContinuation", "no-empty-continuation", "Empty continuation lines will become errors in a future release"),
  ConsistentInstructionCasing: rule(
    "ConsistentInstructionCasing",
    "consistent-instruction-casing",
    "All commands within the Dockerfile should use the same casing (either upper or lower)",
  ),
  DuplicateStageName: rule("DuplicateStageName", "duplicate-stage-name", "Stage names should be unique"),
  ReservedStageName: rule("ReservedStageName", "reserved-stage-name", "Reserved words should not be used as stage names"),
  JSONArgsRecommended: rule(
    "JSONArgsRecommended",
    "json-args-recommended",
    "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
  ),
  MaintainerDeprecated: rule(
    "MaintainerDeprecated",
    "maintainer-deprecated",
    "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
  ),
  UndefinedArgInFrom: rule("UndefinedArgInFrom", "undefined-arg-in-from", "FROM command must use declared ARGs"),
  WorkdirRelativePath: rule(
    "WorkdirRelativePath",
    "workdir-relative-path",
    "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes",
  ),
  UndefinedVar: rule("UndefinedVar", "undefined-var", "Variables should be defined before their use"),
  MultipleInstructionsDisallowed: rule(
    "MultipleInstructionsDisallowed",
    "multiple-instructions-disallowed",
    "Multiple instructions of the same type should not be used in the same stage",
  ),
  LegacyKeyValueFormat: rule("LegacyKeyValueFormat", "legacy-key-value-format", "Legacy key/value format with whitespace separator should not be used"),
  InvalidDefaultArgInFrom: rule(
    "InvalidDefaultArgInFrom",
    "invalid-default-arg-in-from",
    "Default value for global ARG results in an empty or invalid base image name",
  ),
  SecretsUsedInArgOrEnv: rule("SecretsUsedInArgOrEnv", "secrets-used-in-arg-or-env", "Sensitive data should not be used in the ARG or ENV commands"),
  FromPlatformFlagConstDisallowed: rule(
    "FromPlatformFlagConstDisallowed",
    "from-platform-flag-const-disallowed",
    "FROM --platform flag should not use a constant value",
  ),
  RedundantTargetPlatform: rule(
    "RedundantTargetPlatform",
    "redundant-target-platform",
    "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
  ),
  CopyIgnoredFile: rule("CopyIgnoredFile", "copy-ignored-file", "Attempting to Copy file that is excluded by .dockerignore", true),
};

export const RULE_NAMES = Object.keys(RULES) as RuleName[];

export function isRuleName(s: string): s is RuleName {
  return Object.prototype.hasOwnProperty.call(RULES, s);
}

/**
 * The message texts (BuildKit's `Format` functions). `%q` in BuildKit is Go's strconv.Quote, hence
 * `goQuote`; a " (did you mean …?)" tail is added only when a suggestion exists.
 */
export const messages = {
  stageNameCasing: (stage: string): string => `Stage name '${stage}' should be lowercase`,
  fromAsCasing: (from: string, as: string): string => `'${as}' and '${from}' keywords' casing do not match`,
  noEmptyContinuation: (): string => "Empty continuation line",
  consistentInstructionCasing: (command: string, casing: "lowercase" | "uppercase"): string =>
    `Command '${command}' should match the case of the command majority (${casing})`,
  duplicateStageName: (stage: string): string => `Duplicate stage name ${goQuote(stage)}, stage names should be unique`,
  reservedStageName: (stage: string): string => `Stage name should not use the same name as reserved stage ${goQuote(stage)}`,
  jsonArgsRecommended: (instruction: string): string =>
    `JSON arguments recommended for ${instruction} to prevent unintended behavior related to OS signals`,
  maintainerDeprecated: (): string => "Maintainer instruction is deprecated in favor of using label",
  undefinedArgInFrom: (arg: string, suggestion: string | undefined): string =>
    `FROM argument '${arg}' is not declared${suggestion === undefined ? "" : ` (did you mean ${suggestion}?)`}`,
  workdirRelativePath: (workdir: string): string => `Relative workdir ${goQuote(workdir)} can have unexpected results if the base image changes`,
  undefinedVar: (name: string, suggestion: string | undefined): string =>
    `Usage of undefined variable '$${name}'${suggestion === undefined ? "" : ` (did you mean $${suggestion}?)`}`,
  multipleInstructionsDisallowed: (instruction: string): string =>
    `Multiple ${instruction} instructions should not be used in the same stage because only the last one will be used`,
  legacyKeyValueFormat: (instruction: string): string =>
    `"${instruction} key=value" should be used instead of legacy "${instruction} key value" format`,
  invalidDefaultArgInFrom: (baseName: string): string => `Default value for ARG ${baseName} results in empty or invalid base image name`,
  secretsUsedInArgOrEnv: (instruction: "ARG" | "ENV", key: string): string =>
    `Do not use ARG or ENV instructions for sensitive data (${instruction} ${goQuote(key)})`,
  fromPlatformFlagConstDisallowed: (platform: string): string => `FROM --platform flag should not use constant value ${goQuote(platform)}`,
  redundantTargetPlatform: (platformVar: string): string =>
    `Setting platform to predefined ${platformVar} in FROM is redundant as this is the default behavior`,
  copyIgnoredFile: (command: "Copy" | "Add", file: string): string =>
    `Attempting to ${command} file ${goQuote(file)} that is excluded by .dockerignore`,
} as const;
