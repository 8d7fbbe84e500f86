/**
 * The engine's state: what the daemon knows about containers, exec instances, images' metadata,
 * volumes, networks and events, kept in one SQLite database (`<dataRoot>/state/engine.db`).
 *
 * The shapes follow the Engine API v1.45 definitions (ContainerConfig, HostConfig, ContainerState,
 * Volume, Network, EventMessage) so the endpoints serialise them without translation: field names keep
 * Docker's casing. Only the parts the state itself reasons about are typed; the rest of a client's
 * Config/HostConfig is kept as given (unknown fields included) because `docker inspect` must return what
 * `docker create` sent.
 */

/** Docker's container states (ContainerState.Status). `removed` is not a state: the row is gone. */
export type ContainerStatus = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";

export const CONTAINER_STATUSES: readonly ContainerStatus[] = [
  "created",
  "running",
  "paused",
  "restarting",
  "removing",
  "exited",
  "dead",
];

export type HealthStatus = "starting" | "healthy" | "unhealthy";

/** One probe result (HealthcheckResult); Docker keeps the last five. */
export interface HealthLogEntry {
  readonly Start: string;
  readonly End: string;
  readonly ExitCode: number;
  readonly Output: string;
}

export interface Health {
  readonly Status: HealthStatus;
  readonly FailingStreak: number;
  readonly Log: readonly HealthLogEntry[];
}

/** Docker's zero time: what StartedAt/FinishedAt show before the event happened. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

/**
 * The runtime facts of a container besides its status (ContainerState minus the flags, which are
 * derived from the status so they can never disagree with it).
 */
export interface RuntimeState {
  readonly Pid: number;
  readonly ExitCode: number;
  readonly Error: string;
  readonly OOMKilled: boolean;
  readonly StartedAt: string;
  readonly FinishedAt: string;
  /** Absent when the container has no healthcheck. */
  readonly Health?: Health;
  /** Set by `docker stop`/`kill` so `unless-stopped` and `always` do not restart it (Docker's HasBeenManuallyStopped). */
  readonly ManuallyStopped: boolean;
}

/** The Engine API's ContainerState, as inspect shows it. */
export interface ContainerStateJson extends Omit<RuntimeState, "ManuallyStopped" | "Health"> {
  readonly Status: ContainerStatus;
  readonly Running: boolean;
  readonly Paused: boolean;
  readonly Restarting: boolean;
  readonly Dead: boolean;
  readonly Health?: Health;
}

/** The parts of ContainerConfig the state reads; the rest is carried through untouched. */
export interface ContainerConfig {
  readonly Image?: string;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly Healthcheck?: { readonly Test?: readonly string[] } & Readonly<Record<string, unknown>>;
  readonly [key: string]: unknown;
}

/** The parts of HostConfig the state reads; the rest is carried through untouched. */
export interface HostConfig {
  readonly NetworkMode?: string;
  readonly RestartPolicy?: { readonly Name?: string; readonly MaximumRetryCount?: number };
  readonly AutoRemove?: boolean;
  readonly [key: string]: unknown;
}

/** Docker's MountPoint (inspect's `Mounts`). */
export interface MountPoint {
  readonly Type: "bind" | "volume" | "tmpfs" | "npipe" | "cluster";
  readonly Name?: string;
  readonly Source: string;
  readonly Destination: string;
  readonly Driver?: string;
  readonly Mode: string;
  readonly RW: boolean;
  readonly Propagation: string;
}

/** NetworkSettings as inspect shows it; `Networks` is keyed by network name. */
export interface NetworkSettings {
  readonly Networks?: Readonly<Record<string, { readonly NetworkID?: string; readonly [key: string]: unknown }>>;
  readonly [key: string]: unknown;
}

/** Paths and keys the engine keeps per container that inspect shows but clients do not send. */
export interface ContainerPaths {
  readonly ResolvConfPath?: string;
  readonly HostnamePath?: string;
  readonly HostsPath?: string;
  readonly LogPath?: string;
  /** The snapshot (rootfs) key in the worker's snapshotter. */
  readonly SnapshotKey?: string;
}

/**
 * A container in a given state. `Container<"created" | "exited">` is a union of one variant per state,
 * so `status` narrows it and a transition that needs a running container does not accept an exited one.
 */
export type Container<S extends ContainerStatus = ContainerStatus> = S extends ContainerStatus ? ContainerIn<S> : never;

export interface ContainerIn<S extends ContainerStatus> {
  readonly status: S;
  /** 64 hex digits. */
  readonly id: string;
  /** With Docker's leading slash: "/web". */
  readonly name: string;
  /** Nanoseconds since the epoch; orders `before`/`since` and the list. */
  readonly createdNs: bigint;
  /** RFC 3339 with nanoseconds, as inspect shows `Created`. */
  readonly created: string;
  /** The image as the client named it (Config.Image). */
  readonly image: string;
  /** The resolved image ID ("sha256:…"). */
  readonly imageId: string;
  readonly path: string;
  readonly args: readonly string[];
  readonly config: ContainerConfig;
  readonly hostConfig: HostConfig;
  readonly state: RuntimeState;
  readonly restartCount: number;
  readonly mounts: readonly MountPoint[];
  readonly networkSettings: NetworkSettings;
  readonly paths: ContainerPaths;
  readonly driver: string;
  readonly platform: string;
  /** Bumped on every write: transitions compare it so two racing requests cannot both win. */
  readonly version: number;
}

/** What `createContainer` needs; IDs, names and times are filled in by the store. */
export interface NewContainer {
  /** 64 hex digits chosen by the caller (its root filesystem and files are named after it); absent → a fresh one. */
  readonly id?: string;
  /** Without or with the leading slash; absent → a random "adjective_surname" name. */
  readonly name?: string;
  readonly image: string;
  readonly imageId: string;
  readonly path: string;
  readonly args: readonly string[];
  readonly config: ContainerConfig;
  readonly hostConfig: HostConfig;
  readonly mounts?: readonly MountPoint[];
  readonly networkSettings?: NetworkSettings;
  readonly paths?: ContainerPaths;
  readonly driver?: string;
  readonly platform?: string;
}

/** Docker's event types (EventMessage.Type). */
export type EventType =
  | "builder"
  | "config"
  | "container"
  | "daemon"
  | "image"
  | "network"
  | "node"
  | "plugin"
  | "secret"
  | "service"
  | "volume";

/**
 * Docker's EventMessage. `status`, `id` and `from` are the deprecated top-level fields Docker 26 still
 * sends for container and image events (older docker-py reads them).
 */
export interface EngineEvent {
  readonly Type: EventType;
  readonly Action: string;
  readonly Actor: { readonly ID: string; readonly Attributes: Readonly<Record<string, string>> };
  readonly scope: "local" | "swarm";
  /** Seconds since the epoch. */
  readonly time: number;
  readonly timeNano: number;
  readonly status?: string;
  readonly id?: string;
  readonly from?: string;
}

/** An event before it is stamped with a time. */
export interface EventDraft {
  readonly Type: EventType;
  readonly Action: string;
  readonly Actor: { readonly ID: string; readonly Attributes: Readonly<Record<string, string>> };
}

/** Docker's filters: `{"status": ["running"], "label": ["a=b"]}` (the map-of-booleans form is normalised away). */
export type Filters = Readonly<Record<string, readonly string[]>>;

/** An exec instance (ExecInspectResponse's data). */
export interface ExecRecord {
  readonly id: string;
  readonly containerId: string;
  readonly config: ExecConfig;
  readonly running: boolean;
  /** null until the process exits (inspect shows null). */
  readonly exitCode: number | null;
  readonly pid: number;
  readonly canRemove: boolean;
  readonly createdNs: bigint;
}

/** ExecConfig as sent to POST /containers/{id}/exec. */
export interface ExecConfig {
  readonly Cmd: readonly string[];
  readonly User?: string;
  readonly Privileged?: boolean;
  readonly Tty?: boolean;
  readonly AttachStdin?: boolean;
  readonly AttachStdout?: boolean;
  readonly AttachStderr?: boolean;
  readonly DetachKeys?: string;
  readonly Env?: readonly string[];
  readonly WorkingDir?: string;
  readonly ConsoleSize?: readonly [number, number] | null;
  readonly [key: string]: unknown;
}

export interface VolumeRecord {
  readonly name: string;
  readonly driver: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly options: Readonly<Record<string, string>>;
  readonly mountpoint: string;
  /** RFC 3339 (Volume.CreatedAt). */
  readonly createdAt: string;
  /** Created for an image VOLUME or `-v /path`: pruned by default, removed with `docker rm -v`. */
  readonly anonymous: boolean;
  readonly scope: "local" | "global";
}

export interface IpamConfig {
  readonly Subnet?: string;
  readonly IPRange?: string;
  readonly Gateway?: string;
  readonly AuxiliaryAddresses?: Readonly<Record<string, string>>;
}

export interface Ipam {
  readonly Driver: string;
  readonly Config: readonly IpamConfig[];
  readonly Options: Readonly<Record<string, string>>;
}

export interface NetworkRecord {
  readonly id: string;
  readonly name: string;
  readonly driver: string;
  readonly scope: "local" | "global" | "swarm";
  readonly created: string;
  readonly ipam: Ipam;
  readonly labels: Readonly<Record<string, string>>;
  readonly options: Readonly<Record<string, string>>;
  readonly internal: boolean;
  readonly attachable: boolean;
  readonly ingress: boolean;
  readonly enableIPv6: boolean;
}

/** A container's attachment to a network (Network.Containers' entries plus aliases). */
export interface EndpointRecord {
  readonly networkId: string;
  readonly containerId: string;
  readonly endpointId: string;
  readonly macAddress: string;
  /** CIDR form, as Network.Containers shows it ("172.18.0.2/16"); "" when none. */
  readonly ipv4Address: string;
  readonly ipv6Address: string;
  readonly aliases: readonly string[];
}
