import type { Readable } from "node:stream";
import type { Logger } from "../../base/observability/index.ts";
import type { ImageStore } from "../images/index.ts";
import type { CrunRuntime } from "../runtime/index.ts";
import type { Snapshotter } from "../snapshots/index.ts";
import type { StateStore } from "../state/index.ts";
import type { BridgeDatapath } from "../networks/index.ts";
import type { NetworkAttacher } from "./network.ts";

/**
 * The container lifecycle core's public types. `ContainerManager` (manager.ts) is the one object the
 * API routes (and later exec, cp, stats, top, pause, update, healthchecks) work through; it owns every
 * running container's process handle, output, log file, restart timer and waiters for this daemon.
 */

/** What the manager works on: the daemon's stores (see engine/daemon/services.ts). */
export interface ManagerDeps {
  readonly dataRoot: string;
  readonly state: StateStore;
  readonly images: ImageStore;
  readonly snapshots: Snapshotter;
  readonly runtime: CrunRuntime;
  readonly log: Logger;
  /** Aborted when the daemon stops. */
  readonly signal: AbortSignal;
  /** The containers' networks; default `LoopbackNetworks` (see network.ts). */
  readonly network?: NetworkAttacher;
  /** The bridge datapath; given (and `network` not), bridge networks get `BridgeNetworks` (bridge-network.ts). */
  readonly datapath?: BridgeDatapath;
  /** How long `shutdown` lets each container stop before SIGKILL (dockerd's shutdown-timeout, 15 s). */
  readonly shutdownTimeoutSeconds?: number;
}

export type WaitCondition = "not-running" | "next-exit" | "removed";

/** The body of `POST /containers/{id}/wait` (Docker's WaitResponse; `Error` only when there is one). */
export interface WaitResult {
  readonly StatusCode: number;
  readonly Error?: { readonly Message: string };
}

export interface StopOptions {
  /** Seconds to wait after the stop signal before SIGKILL; -1 waits forever; default: Config.StopTimeout or 10. */
  readonly timeoutSeconds?: number;
  /** The stop signal (API ≥ 1.42 `signal`); default Config.StopSignal or SIGTERM. */
  readonly signal?: string;
}

export interface RemoveOptions {
  /** Kill a running container first (`docker rm -f`). */
  readonly force?: boolean;
  /** Also remove its anonymous volumes (`docker rm -v`). */
  readonly volumes?: boolean;
}

export interface AttachRequest {
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  /** Replay the log first (`logs=1`). */
  readonly logs: boolean;
  /** Stream output (and input) of the running container (`stream=1`). */
  readonly stream: boolean;
  /** `detachKeys` (TTY containers); default ctrl-p,ctrl-q. */
  readonly detachKeys?: string;
}

/** The client side of an attach session: the hijacked connection, framed by the API layer. */
export interface AttachConnection {
  /** One chunk of output for the client; false means "wait for onDrain". */
  write(stream: 1 | 2, chunk: Buffer): boolean;
  onDrain(callback: () => void): void;
  /** The client's input (stdin); the manager reads it only when the container takes input. */
  readonly input: Readable | null;
  /** The session is over: end the connection. */
  close(): void;
}

export interface LogsOptions {
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly follow: boolean;
  readonly timestamps: boolean;
  /** `tail`: a number of lines, or undefined for "all". */
  readonly tail?: number;
  readonly sinceNs?: bigint;
  readonly untilNs?: bigint;
}

export interface PruneReport {
  readonly ContainersDeleted: readonly string[];
  readonly SpaceReclaimed: number;
}
