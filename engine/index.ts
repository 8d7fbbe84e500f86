export { startDaemon, type RunningDaemon, type DaemonInfo } from "./daemon/daemon.ts";
export {
  resolveConfig,
  parseListenAddress,
  formatListenAddress,
  defaultPaths,
  type DaemonConfig,
  type DaemonFlags,
  type ListenAddress,
} from "./daemon/config.ts";
export { API_VERSION, MIN_API_VERSION } from "./api/version.ts";
