import { systemClock, type Clock } from "./clock.ts";
import { ContainerStore, type ContainerStoreOptions } from "./containers.ts";
import { StateContext } from "./context.ts";
import { openStateDb, openStateDbAt, type OpenStateDbOptions, type StateDb } from "./db.ts";
import { EventLog, type StoredEvent } from "./events.ts";
import { ExecStore } from "./execs.ts";
import { ImageStateTable, LeaseTable } from "./images.ts";
import { NetworkStore } from "./networks.ts";
import type { EventDraft } from "./types.ts";
import { VolumeStore } from "./volumes.ts";

export interface StateStoreOptions extends OpenStateDbOptions, ContainerStoreOptions {
  readonly clock?: Clock;
  /** Event rows kept (older ones are trimmed); Docker itself keeps only the last 256, in memory. */
  readonly eventsRetained?: number;
}

/**
 * The engine's state: one database, one owner (the daemon), disposed with `close`. Everything that
 * changes state goes through these repositories, so every change is one transaction with its events.
 */
export class StateStore {
  readonly #db: StateDb;
  readonly ctx: StateContext;
  readonly containers: ContainerStore;
  readonly execs: ExecStore;
  /** The image store's persistence (`ImageStatePersistence` of engine/images). */
  readonly images: ImageStateTable;
  /** The RefCounter's persistence (`LeasePersistence` of cache/refs.ts). */
  readonly leases: LeaseTable;
  readonly volumes: VolumeStore;
  readonly networks: NetworkStore;
  readonly events: EventLog;

  constructor(db: StateDb, options: StateStoreOptions = {}) {
    this.#db = db;
    const clock = options.clock ?? systemClock;
    this.events = new EventLog(db.db, clock, options.eventsRetained);
    this.ctx = new StateContext(db.db, clock, this.events);
    this.containers = new ContainerStore(this.ctx, options);
    this.execs = new ExecStore(this.ctx);
    this.images = new ImageStateTable(this.ctx);
    this.leases = new LeaseTable(this.ctx);
    this.volumes = new VolumeStore(this.ctx);
    this.networks = new NetworkStore(this.ctx);
  }

  get path(): string {
    return this.#db.path;
  }

  get schemaVersion(): number {
    return this.#db.schemaVersion;
  }

  /** Records an event that changes no table (a `pull`, a `daemon reload`, a builder event …). */
  recordEvent(draft: EventDraft): StoredEvent {
    return this.ctx.tx(() => this.ctx.emit(draft));
  }

  /** Ends live event streams, then closes the database (idempotent). */
  close(): void {
    this.events.closeAll();
    this.#db.close();
  }
}

/** Opens `<dataRoot>/state/engine.db` and builds the store on it. */
export function openStateStore(dataRoot: string, options: StateStoreOptions = {}): StateStore {
  return new StateStore(openStateDb(dataRoot, options), options);
}

/** The same, for a database file at an explicit path (tests, maintenance commands). */
export function openStateStoreAt(path: string, options: StateStoreOptions = {}): StateStore {
  return new StateStore(openStateDbAt(path, options), options);
}
