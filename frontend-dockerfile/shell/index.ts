export {
  envFromList,
  processWord,
  processWordWithMatches,
  processWords,
  type EnvGetter,
  type EscapeToken,
  type LexOptions,
  type LexResult,
  type ProcessWordResult,
  type ShellEnv,
  type ShellPlatform,
} from "./lex.ts";
