/**
 * `solver/`: the one way in. Runs LLB definitions (`Solver.solve`), keyed and deduplicated as
 * BuildKit's solver does, through a `Worker` the engine implements; writes build records and renders
 * progress. See README.md and types.ts for the contracts.
 */
export type {
  BuildRecord,
  BuildStatus,
  BuildSummary,
  CacheDep,
  CacheKeyStore,
  CacheMap,
  CacheRecord,
  ContentKey,
  ContentSelector,
  FieldChange,
  KeyPart,
  KeyPreimage,
  MissReason,
  OpContext,
  ProgressEvent,
  ProgressEventKind,
  RecordedError,
  ResolvedImage,
  SharedRef,
  SolveOutcome,
  SolveRequest,
  SolveSession,
  SourcePin,
  StatusUpdate,
  VertexOutcome,
  VertexProgress,
  VertexRecord,
  VertexStatus,
  Worker,
  WorkerRef,
} from "./types.ts";
export { Solver, type BuildHandle, type SolverOptions } from "./scheduler.ts";
export { cacheMapOf, type DescribeOptions, describeMiss, explainBuild, explainMiss, keyFromParts, opFields, stepIdentity } from "./cache-key.ts";
export { JsonlKeyStore, MemoryKeyStore } from "./key-store.ts";
export { BuildRecordStore, RecordWriter, logFileName, summarize } from "./build-records.ts";
export { ProgressBus, type ProgressBusOptions, type ProgressBusStats } from "./progress-bus.ts";
export { shareRef, releaseAll } from "./shared-ref.ts";
// The renderers live in base/progress (the buildx plugin renders too); re-exported for the solver's users.
export { PlainPrinter, TtyPrinter, eventToJson, formatBytes, renderProgress, type ProgressMode, type ProgressOutput, type RenderOptions, type TtyOptions } from "../base/progress/index.ts";
