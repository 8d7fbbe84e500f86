export type {
  ContainerState,
  ContainerStats,
  ContainerStatus,
  ExecProcess,
  ExecRequest,
  ProcessResult,
  RunRequest,
  RunningContainer,
  Runtime,
  StartRequest,
  StdinSource,
} from "./types.ts";
export { exitCodeOf } from "./types.ts";
export {
  ALL_CAPABILITIES,
  CPU_PERIOD,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_NOFILE,
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
  DEFAULT_SHM_SIZE,
  INIT_PATH,
  MIN_MEMORY,
  OCI_VERSION,
  buildSpec,
  defaultDeviceRules,
  effectiveCapabilities,
  goArch,
  mergeEnv,
  mergeTmpfsOptions,
  normalizeCapability,
  thisHost,
  type HostInfo,
  type Linux,
  type LinuxResources,
  type LinuxSeccomp,
  type Mount,
  type MountRequest,
  type NetworkNamespace,
  type Process,
  type ResourceOptions,
  type SeccompMode,
  type Spec,
  type SpecOptions,
  type Ulimit,
} from "./spec.ts";
export { defaultSeccompProfile, kernelAtLeast } from "./seccomp.ts";
export { parseGroup, parsePasswd, readUserDatabase, resolveUser, type ResolvedUser, type UserDatabase } from "./users.ts";
export { CrunRuntime, resultError, resultFromExit, signalArg, signalName, type CrunRuntimeOptions } from "./crun.ts";
export { canReadKernelLog, cgroupMode, readCgroupStats } from "./cgroups.ts";
export { findInitBinary } from "./init.ts";
