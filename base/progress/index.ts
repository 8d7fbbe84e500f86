/**
 * `base/progress`: BuildKit's progress renderers (`--progress=plain|tty|rawjson|quiet`) over the
 * progress event stream. Pure: they write text through a callback and know nothing of the solver, so
 * both the in-process builder and the `docker buildx` plugin render with them.
 */
export type { Digest, ProgressEvent, ProgressEventKind, RecordedError, StatusUpdate } from "./types.ts";
export { PlainPrinter, formatBytes } from "./plain.ts";
export { TtyPrinter, type TtyOptions } from "./tty.ts";
export { eventToJson, renderProgress, type ProgressMode, type ProgressOutput, type RenderOptions } from "./render.ts";
