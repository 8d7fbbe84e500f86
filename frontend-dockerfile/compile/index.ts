/**
 * The compile stage of the Dockerfile frontend: BuildKit's `dockerfile2llb` (v0.13).
 *
 *     const { result, diagnostics } = await compileDockerfile(text, { target, buildArgs, resolveImageConfig });
 *     result?.definition  // llb Definition of the target stage
 *     result?.image       // the image config to export (ImageSpec)
 */
export {
  compileDockerfile,
  CUSTOM_NAME_KEY,
  DOCKERFILE_COMMAND_KEY,
  PROXY_ENV_KEY,
  type CompileOptions,
  type CompileResult,
  type CompiledDockerfile,
  type CompiledStage,
  type Entitlement,
  type ImageConfigResolver,
  type NamedContext,
  type OutlineData,
} from "./compile.ts";
export type { BaseImageConfig, HealthcheckSpec, HistorySpec, ImageConfigSpec, ImageSpec, RootfsSpec } from "./image-spec.ts";
export { parseInstructions, parseInstruction, type Command, type CommandKind, type Stage, type InstructionsResult } from "./instructions.ts";
export { parseRunMount, type RunMount } from "./run-mount.ts";
export { listTargets, outlineDockerfile, formatOutline, formatTargets, type Outline, type TargetList } from "./outline.ts";
