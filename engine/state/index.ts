// The engine's state store: the one public way in (see README.md and types.ts).
export type * from "./types.ts";
export { CONTAINER_STATUSES, ZERO_TIME } from "./types.ts";
export { StateStore, openStateStore, openStateStoreAt, type StateStoreOptions } from "./store.ts";
export {
  openStateDb,
  openStateDbAt,
  stateDbPath,
  migrate,
  canonicalJson,
  checksumOf,
  verifyChecksum,
  sha256Hex,
  type OpenStateDbOptions,
  type StateDb,
} from "./db.ts";
export { MIGRATIONS, SCHEMA_VERSION, type Migration } from "./migrations.ts";
export { ContainerStore, type ContainerStoreOptions, type ListOptions } from "./containers.ts";
export { stateJson, inspectJson, summaryJson, statusText, humanDuration } from "./container-json.ts";
export * as lifecycle from "./lifecycle.ts";
export {
  requireStartable,
  requireStoppable,
  requireKillable,
  requirePausable,
  requireUnpausable,
  requireExecutable,
  requireRemovable,
  isIn,
  containerEvent,
} from "./lifecycle.ts";
export { CONTAINER_FILTERS, filterContainers, validateContainerFilters, isRunningFlag, type ContainerListContext } from "./container-filters.ts";
export { parseFilters, validateFilterKeys, values, match, exactMatch, fuzzyMatch, matchKeyValues } from "./filters.ts";
export { EventLog, EVENT_FILTERS, matchEvent, type EventQuery, type EventSubscription, type StoredEvent, type SubscribeOptions } from "./events.ts";
export { ExecStore } from "./execs.ts";
export { ImageStateTable, LeaseTable, type PersistedImageState } from "./images.ts";
export { VolumeStore, volumeEvent } from "./volumes.ts";
export { NetworkStore, networkEvent } from "./networks.ts";
export { StateContext } from "./context.ts";
export { generateId, shortId, randomName, normaliseContainerName, RANDOM_NAME_ATTEMPTS } from "./names.ts";
export { systemClock, rfc3339Nano, parseRfc3339Nano, parseDockerTime, type Clock } from "./clock.ts";
export { reconcile, shouldRestart, restartDelayMs, type Liveness, type Probe, type ReconcileAction } from "./reconcile.ts";
export { filterVolumes, filterNetworks, VOLUME_FILTERS, NETWORK_FILTERS } from "./resource-filters.ts";
