export {
  cleanPath,
  compile,
  globSyntaxError,
  readDockerignore,
  Pattern,
  type DockerignoreMatcher,
  type MatchInfo,
} from "./patterns.ts";
export { loadDockerignore, type LoadedDockerignore } from "./ignore-file.ts";
export { walkContext, walkContextSync, resolveContextRoot, type ContextEntry, type WalkOptions } from "./walk.ts";
