/**
 * `engine/containers/`: the container lifecycle core (see README.md). `ContainerManager` is the way in;
 * the rest are its pure parts, exported for the API layer and for tests.
 */
export { ContainerManager } from "./manager.ts";
export { BridgeNetworks, buildStepNetwork } from "./bridge-network.ts";
export { ContainerOps, runtimeResources, type ContainerOpsDeps, type UpdateRequest } from "./container-ops.ts";
export { absoluteKeepingTrailing, goBase, goFileMode, goTimeJson, hostPathOf, resolveInContainer, statResource, type ContainerFsView, type ContainerPathStat, type FsMount, type ResolvedResource } from "./container-fs.ts";
export { archiveResource, exportRootfs, extractArchive, type ExtractOptions } from "./archive.ts";
export { INIT_LAYER_PARENTS, INIT_LAYER_PATHS, overlayChanges, treeChanges, type Change, type ChangeKind } from "./changes.ts";
export { HealthMonitor, healthSettings, nextHealth, probeCommand, probeLogEntry, type HealthSettings } from "./health.ts";
export { statsJson, parseNetDev, cpuStatsJson, type NetworkCounters, type StatsSample } from "./stats.ts";
export { top, parsePsOutput, validatePsArgs, renderPsEf, parseProcStat, formatCpuTime, formatStime, formatTty, type ProcInfo, type TopResult } from "./top.ts";
export { BoundedOutput, ExecManager, startFailure, type ExecCreateRequest, type ExecDeps, type ExecStart, type ExecStartRequest, type ProbeResult } from "./exec.ts";
export type { AttachConnection, AttachRequest, LogsOptions, ManagerDeps, PruneReport, RemoveOptions, StopOptions, WaitCondition, WaitResult } from "./types.ts";
export { entrypointAndArgs, mergeImageConfig, normaliseHostConfig, parseCreateBody, parseSignal, parseSize, validateCreate, validateRestartPolicy, type NetworkingConfig, type ParsedCreate } from "./create-config.ts";
export { copiesImageContent, planMounts, runtimeMounts, tmpfsOptions, type MountPlan, type PlanOptions, type VolumeNeed } from "./mounts.ts";
export {
  LoopbackNetworks,
  emptyEndpoint,
  emptyNetworkSettings,
  hostsFile,
  hostnameFile,
  parseNetworkMode,
  resolvConf,
  type NetworkAttacher,
  type NetworkAttachment,
  type NetworkMode,
} from "./network.ts";
export { JsonFileWriter, LineSplitter, decodeEntry, encodeEntry, logFiles, readLog, type LogMessage, type LogStream, type RotationOptions } from "./json-file.ts";
export { ContainerIO, DetachKeyScanner, DEFAULT_DETACH_KEYS, parseDetachKeys, type OutputSink, type StreamId } from "./io.ts";
export { specOptions, securityOptions, type SpecInputs } from "./spec-options.ts";
export { copyImageContent, VolumeMounts } from "./volumes.ts";
