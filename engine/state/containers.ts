import type { Statement } from "better-sqlite3";
import { htkError, type HtkError } from "../../base/errors/index.ts";
import { rfc3339Nano } from "./clock.ts";
import { filterContainers, type ContainerListContext } from "./container-filters.ts";
import type { StateContext } from "./context.ts";
import { checksumOf, verifyChecksum } from "./db.ts";
import * as fsm from "./lifecycle.ts";
import { generateId, normaliseContainerName, randomName, RANDOM_NAME_ATTEMPTS, shortId } from "./names.ts";
import {
  ZERO_TIME,
  type Container,
  type ContainerStatus,
  type Filters,
  type Health,
  type HostConfig,
  type NetworkSettings,
  type NewContainer,
  type RuntimeState,
} from "./types.ts";

interface ContainerRow {
  id: string;
  name: string;
  status: ContainerStatus;
  created_ns: string;
  created: string;
  image: string;
  image_id: string;
  path: string;
  args_json: string;
  config_json: string;
  host_config_json: string;
  config_sha256: string;
  state_json: string;
  restart_count: number;
  mounts_json: string;
  network_settings_json: string;
  paths_json: string;
  driver: string;
  platform: string;
  version: number;
}

const SELECT = "SELECT *, CAST(created_ns AS TEXT) AS created_ns FROM containers";

export interface ContainerStoreOptions {
  /**
   * Called when a listed record fails its checksum (HTK-ENGINE-0102). The default rethrows; the daemon
   * passes a reporter that logs it, so one damaged record does not hide every other container from
   * `docker ps`. Single lookups always throw.
   */
  readonly onCorruptRecord?: (err: HtkError) => void;
  /** For tests: the random name for an attempt (default: Docker-style "adjective_surname"). */
  readonly randomName?: (attempt: number) => string;
}

/** Options for `list`, besides the filters. */
export interface ListOptions {
  readonly all?: boolean;
  readonly limit?: number;
  readonly ancestorImageIds?: ContainerListContext["ancestorImageIds"];
}

/**
 * The containers table. Reads return `Container` (a union over the states); the lifecycle methods take
 * the states their transition accepts and persist the change and its events in one transaction,
 * guarded by the row's version so two racing requests cannot both apply (HTK-ENGINE-0115).
 */
export class ContainerStore {
  readonly #ctx: StateContext;
  readonly #onCorrupt: (err: HtkError) => void;
  readonly #randomName: (attempt: number) => string;
  readonly #byId: Statement;
  readonly #selectAll: Statement;
  readonly #byName: Statement;
  readonly #update: Statement;
  readonly #insert: Statement;
  readonly #useVolume: Statement;
  readonly #volumeExists: Statement;
  /**
   * Decoded, checksum-verified records by ID. Every write bumps `version`, so a row whose version and
   * checksummed text are unchanged is the record already verified: `docker ps` does not re-parse and
   * re-hash every container on every call.
   */
  readonly #decoded = new Map<string, { readonly row: ContainerRow; readonly container: Container }>();

  constructor(ctx: StateContext, options: ContainerStoreOptions = {}) {
    this.#ctx = ctx;
    this.#onCorrupt =
      options.onCorruptRecord ??
      ((err) => {
        throw err;
      });
    this.#randomName = options.randomName ?? ((attempt) => randomName(attempt));
    this.#byId = ctx.db.prepare(`${SELECT} WHERE id = ?`);
    // `docker ps` runs this on every call: prepared once (compiling it cost as much as running it).
    this.#selectAll = ctx.db.prepare(SELECT);
    this.#byName = ctx.db.prepare(`${SELECT} WHERE name = ?`);
    this.#insert = ctx.db.prepare(
      `INSERT INTO containers (id, name, status, created_ns, created, image, image_id, path, args_json, config_json,
         host_config_json, config_sha256, state_json, restart_count, mounts_json, network_settings_json, paths_json,
         driver, platform, version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#useVolume = ctx.db.prepare("INSERT OR IGNORE INTO container_volumes (container_id, volume_name) VALUES (?, ?)");
    this.#volumeExists = ctx.db.prepare("SELECT 1 FROM volumes WHERE name = ?");
    this.#update = ctx.db.prepare(
      `UPDATE containers SET name = ?, status = ?, state_json = ?, restart_count = ?, host_config_json = ?,
         config_sha256 = ?, mounts_json = ?, network_settings_json = ?, paths_json = ?, version = version + 1
       WHERE id = ? AND version = ?`,
    );
  }

  /**
   * Creates a container in state `created` and records `create`. The name is the client's (Docker's
   * rules, HTK-ENGINE-0106; in use → HTK-ENGINE-0104) or a random "adjective_surname", retried on
   * collision and falling back to the short ID as Docker does. Named volumes in `mounts` must exist
   * (HTK-ENGINE-0122): the volume's in-use record is written here.
   */
  create(spec: NewContainer): Container<"created"> {
    const wanted = spec.name === undefined || spec.name === "" ? undefined : normaliseContainerName(spec.name);
    return this.#ctx.tx(() => {
      let id = spec.id ?? generateId();
      if (spec.id !== undefined && (!/^[0-9a-f]{64}$/.test(spec.id) || this.#byId.get(spec.id) !== undefined)) {
        throw new Error(`container ID ${spec.id} is not a fresh 64-hex ID`);
      }
      while (spec.id === undefined && this.#byId.get(id) !== undefined) id = generateId();
      const name = wanted ?? this.#freeRandomName(id);
      const holder = this.#byName.get(name) as ContainerRow | undefined;
      if (holder !== undefined) throw htkError("HTK-ENGINE-0104", { name, id: holder.id });
      const createdNs = this.#ctx.clock();
      const c: Container<"created"> = {
        status: "created",
        id,
        name,
        createdNs,
        created: rfc3339Nano(createdNs),
        image: spec.image,
        imageId: spec.imageId,
        path: spec.path,
        args: [...spec.args],
        config: spec.config,
        hostConfig: spec.hostConfig,
        state: initialState(),
        restartCount: 0,
        mounts: spec.mounts ?? [],
        networkSettings: spec.networkSettings ?? {},
        paths: spec.paths ?? {},
        driver: spec.driver ?? "overlayfs",
        platform: spec.platform ?? "linux",
        version: 1,
      };
      this.#insert.run(
          c.id,
          c.name,
          c.status,
          c.createdNs,
          c.created,
          c.image,
          c.imageId,
          c.path,
          JSON.stringify(c.args),
          JSON.stringify(c.config),
          JSON.stringify(c.hostConfig),
          specChecksum(c),
          JSON.stringify(c.state),
          c.restartCount,
          JSON.stringify(c.mounts),
          JSON.stringify(c.networkSettings),
          JSON.stringify(c.paths),
          c.driver,
          c.platform,
          c.version,
        );
      for (const m of c.mounts) {
        if (m.Type !== "volume" || m.Name === undefined || m.Name === "") continue;
        if (this.#volumeExists.get(m.Name) === undefined) throw htkError("HTK-ENGINE-0122", { name: m.Name });
        this.#useVolume.run(c.id, m.Name);
      }
      this.#ctx.emit(fsm.containerEvent(c, "create"));
      return c;
    });
  }

  /** By full ID only. Throws HTK-ENGINE-0102 if the record fails its checksum. */
  get(id: string): Container | undefined {
    const row = this.#byId.get(id) as ContainerRow | undefined;
    return row === undefined ? undefined : this.#decode(row);
  }

  /**
   * Docker's lookup order (daemon.GetContainer): the full ID, then the exact name (with or without the
   * slash), then a unique ID prefix. Unknown → HTK-ENGINE-0103; several IDs share the prefix →
   * HTK-ENGINE-0105.
   */
  resolve(ref: string): Container {
    const found = this.find(ref);
    if (found === undefined) throw htkError("HTK-ENGINE-0103", { name: ref });
    return found;
  }

  /** Like `resolve`, but undefined when nothing matches (an ambiguous prefix still throws). */
  find(ref: string): Container | undefined {
    if (ref === "") return undefined;
    const byId = this.#byId.get(ref) as ContainerRow | undefined;
    if (byId !== undefined) return this.#decode(byId);
    const byName = this.#byName.get(ref.startsWith("/") ? ref : `/${ref}`) as ContainerRow | undefined;
    if (byName !== undefined) return this.#decode(byName);
    if (!/^[0-9a-f]+$/.test(ref)) return undefined;
    const rows = this.#ctx.db.prepare(`${SELECT} WHERE id >= ? AND id < ? ORDER BY id LIMIT 2`).all(ref, `${ref}g`) as ContainerRow[];
    if (rows.length > 1) throw htkError("HTK-ENGINE-0105", { prefix: ref });
    const row = rows[0];
    return row === undefined ? undefined : this.#decode(row);
  }

  /** Every container (any order). Records failing their checksum go to `onCorruptRecord`. */
  all(): Container[] {
    const out: Container[] = [];
    const rows = this.#selectAll.all() as ContainerRow[];
    if (this.#decoded.size > rows.length * 2) this.#decoded.clear();
    for (const row of rows) {
      try {
        out.push(this.#decode(row));
      } catch (err) {
        if (err instanceof Error && err.name === "HtkError") this.#onCorrupt(err as HtkError);
        else throw err;
      }
    }
    return out;
  }

  /** GET /containers/json: Docker's filters over all records, newest first. */
  list(filters: Filters = {}, options: ListOptions = {}): Container[] {
    const records = this.all();
    return filterContainers(records, filters, {
      ...(options.all === undefined ? {} : { all: options.all }),
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      ...(options.ancestorImageIds === undefined ? {} : { ancestorImageIds: options.ancestorImageIds }),
      resolveContainer: (ref) => this.resolve(ref),
    });
  }

  /** IDs of the containers using a named volume (for "volume is in use" and system df). */
  usersOfVolume(name: string): string[] {
    return (this.#ctx.db.prepare("SELECT container_id FROM container_volumes WHERE volume_name = ? ORDER BY container_id").all(name) as Array<{ container_id: string }>).map(
      (r) => r.container_id,
    );
  }

  // -------------------------------------------------------------------------------------------------
  // Lifecycle: each persists the transition and its events in one transaction.

  start(c: Container<"created" | "exited">, p: { readonly pid: number }): Container<"running"> {
    return this.#apply(c, "start", (nowNs) => fsm.start(c, { pid: p.pid, nowNs }));
  }

  pause(c: Container<"running">): Container<"paused"> {
    return this.#apply(c, "pause", () => fsm.pause(c));
  }

  unpause(c: Container<"paused">): Container<"running"> {
    return this.#apply(c, "unpause", () => fsm.unpause(c));
  }

  exit(c: Container<"running" | "paused">, p: Omit<fsm.ExitParams, "nowNs">): Container<"exited"> {
    return this.#apply(c, "exit", (nowNs) => fsm.exit(c, { ...p, nowNs }));
  }

  scheduleRestart(c: Container<"running" | "paused">, p: Omit<fsm.ExitParams, "nowNs">): Container<"restarting"> {
    return this.#apply(c, "restart", (nowNs) => fsm.scheduleRestart(c, { ...p, nowNs }));
  }

  restarted(c: Container<"restarting">, p: { readonly pid: number }): Container<"running"> {
    return this.#apply(c, "restart", (nowNs) => fsm.restarted(c, { pid: p.pid, nowNs }));
  }

  cancelRestart(c: Container<"restarting">): Container<"exited"> {
    return this.#apply(c, "stop", (nowNs) => fsm.cancelRestart(c, { nowNs }));
  }

  startFailed<S extends "created" | "exited">(c: Container<S>, p: { readonly exitCode: number; readonly error: string }): Container<S> {
    return this.#apply(c, "start", () => fsm.startFailed(c, p));
  }

  restartFailed(c: Container<"restarting">, p: { readonly exitCode: number; readonly error: string }): Container<"exited"> {
    return this.#apply(c, "restart", (nowNs) => fsm.restartFailed(c, { ...p, nowNs }));
  }

  beginRemoval(c: Container<"created" | "exited" | "dead">): Container<"removing"> {
    return this.#apply(c, "remove", () => fsm.beginRemoval(c));
  }

  markDead(c: Container<"removing" | "created" | "exited">, p: { readonly error: string }): Container<"dead"> {
    return this.#apply(c, "remove", () => fsm.markDead(c, p));
  }

  setHealth<S extends "running" | "paused" | "restarting">(c: Container<S>, health: Health): Container<S> {
    return this.#apply(c, "health check", () => fsm.setHealth(c, health));
  }

  /**
   * Deletes the row (exec instances, volume uses and network endpoints go with it by cascade) and records
   * `destroy`. Anonymous volumes are the caller's to remove (`docker rm -v`).
   */
  remove(c: Container<"created" | "exited" | "dead" | "removing">): void {
    this.#ctx.tx(() => {
      const res = this.#ctx.db.prepare("DELETE FROM containers WHERE id = ? AND version = ?").run(c.id, c.version);
      if (res.changes === 0) this.#raceLost(c, "remove");
      for (const e of fsm.destroy(c).events) this.#ctx.emit(e);
    });
  }

  /** `docker rename`: same name → HTK-ENGINE-0120, taken → HTK-ENGINE-0104, records `rename`. */
  rename<S extends ContainerStatus>(c: Container<S>, newName: string): Container<S> {
    const name = normaliseContainerName(newName);
    if (name === c.name) throw htkError("HTK-ENGINE-0120", {});
    return this.#ctx.tx(() => {
      const holder = this.#byName.get(name) as ContainerRow | undefined;
      if (holder !== undefined) throw htkError("HTK-ENGINE-0104", { name, id: holder.id });
      return this.#apply(c, "rename", () => fsm.rename(c, name));
    });
  }

  /** `docker update`: merges resource and restart-policy fields into HostConfig, records `update`. */
  update<S extends ContainerStatus>(c: Container<S>, patch: HostConfig): Container<S> {
    return this.#apply(c, "update", () => {
      const next = { ...c, hostConfig: { ...c.hostConfig, ...patch } } as Container<S>;
      return { container: next, events: [fsm.containerEvent(next, "update")] };
    });
  }

  /** Records what the network code decided (IPs, ports, endpoints). No event: Docker's are network events. */
  setNetworkSettings<S extends ContainerStatus>(c: Container<S>, networkSettings: NetworkSettings): Container<S> {
    return this.#apply(c, "connect", () => ({ container: { ...c, networkSettings } as Container<S>, events: [] }));
  }

  /** Events that are not transitions (`kill` with signal, `stop`, `attach`, `resize`, `top` …), with the container's attributes. */
  note(c: Container, action: string, attributes: Readonly<Record<string, string>> = {}): void {
    this.#ctx.tx(() => this.#ctx.emit(fsm.containerEvent(c, action, attributes)));
  }

  #apply<S extends ContainerStatus>(prev: Container, action: string, step: (nowNs: bigint) => fsm.Step<S>): Container<S> {
    return this.#ctx.tx(() => {
      const { container: next, events } = step(this.#ctx.clock());
      const res = this.#update.run(
        next.name,
        next.status,
        JSON.stringify(next.state),
        next.restartCount,
        JSON.stringify(next.hostConfig),
        specChecksum(next),
        JSON.stringify(next.mounts),
        JSON.stringify(next.networkSettings),
        JSON.stringify(next.paths),
        prev.id,
        prev.version,
      );
      if (res.changes === 0) this.#raceLost(prev, action);
      for (const e of events) this.#ctx.emit(e);
      return { ...next, version: prev.version + 1 } as Container<S>;
    });
  }

  #decode(row: ContainerRow): Container {
    const cached = this.#decoded.get(row.id);
    if (
      cached !== undefined &&
      cached.row.version === row.version &&
      cached.row.config_sha256 === row.config_sha256 &&
      cached.row.config_json === row.config_json &&
      cached.row.host_config_json === row.host_config_json &&
      cached.row.state_json === row.state_json &&
      cached.row.name === row.name &&
      cached.row.status === row.status
    ) {
      return cached.container;
    }
    const container = fromRow(row);
    this.#decoded.set(row.id, { row, container });
    return container;
  }

  #raceLost(prev: Container, action: string): never {
    const now = this.#byId.get(prev.id) as ContainerRow | undefined;
    if (now === undefined) throw htkError("HTK-ENGINE-0103", { name: prev.id });
    throw htkError("HTK-ENGINE-0115", { id: prev.id, action, expected: prev.status, actual: now.status });
  }

  #freeRandomName(id: string): string {
    for (let i = 0; i < RANDOM_NAME_ATTEMPTS; i++) {
      const name = `/${this.#randomName(i)}`;
      if (this.#byName.get(name) === undefined) return name;
    }
    return `/${shortId(id)}`;
  }
}

/** The fields of a container that must not change behind the engine's back. */
function specChecksum(c: Container): string {
  return checksumOf({ Image: c.image, ImageID: c.imageId, Path: c.path, Args: c.args, Config: c.config, HostConfig: c.hostConfig });
}

function fromRow(row: ContainerRow): Container {
  const c = {
    status: row.status,
    id: row.id,
    name: row.name,
    createdNs: BigInt(row.created_ns),
    created: row.created,
    image: row.image,
    imageId: row.image_id,
    path: row.path,
    args: JSON.parse(row.args_json) as string[],
    config: JSON.parse(row.config_json) as Container["config"],
    hostConfig: JSON.parse(row.host_config_json) as HostConfig,
    state: JSON.parse(row.state_json) as RuntimeState,
    restartCount: row.restart_count,
    mounts: JSON.parse(row.mounts_json) as Container["mounts"],
    networkSettings: JSON.parse(row.network_settings_json) as NetworkSettings,
    paths: JSON.parse(row.paths_json) as Container["paths"],
    driver: row.driver,
    platform: row.platform,
    version: row.version,
  } as Container;
  verifyChecksum("container", row.id, { Image: c.image, ImageID: c.imageId, Path: c.path, Args: c.args, Config: c.config, HostConfig: c.hostConfig }, row.config_sha256);
  return c;
}

function initialState(): RuntimeState {
  return { Pid: 0, ExitCode: 0, Error: "", OOMKilled: false, StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME, ManuallyStopped: false };
}
