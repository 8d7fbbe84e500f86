import type { Database, Statement } from "better-sqlite3";
import { htkError, type HtkError } from "../../base/errors/index.ts";
import type { Clock } from "./clock.ts";
import { exactMatch, fuzzyMatch, matchKeyValues, validateFilterKeys, values } from "./filters.ts";
import type { EngineEvent, EventDraft, Filters } from "./types.ts";

/** The filters GET /events accepts (Docker 26.1). */
export const EVENT_FILTERS = [
  "config",
  "container",
  "daemon",
  "event",
  "image",
  "label",
  "network",
  "node",
  "plugin",
  "scope",
  "secret",
  "service",
  "type",
  "volume",
] as const;

/** An event with its position in the log (ordering and de-duplication between replay and live). */
export interface StoredEvent {
  readonly seq: number;
  readonly timeNs: bigint;
  readonly event: EngineEvent;
}

/** Docker's event filter rules (daemon/events/filter.go), pure. */
export function matchEvent(ev: EngineEvent, filters: Filters): boolean {
  const attrs = ev.Actor.Attributes;
  const name = attrs["name"] ?? "";
  // Docker #25798: these actions carry a suffix ("health_status: healthy", "exec_start: sh"), so the bare
  // name matches by prefix.
  const fuzzyActions = ["health_status", "exec_create", "exec_start"];
  const eventOk = values(filters, "event").some((v) => fuzzyActions.includes(v))
    ? fuzzyMatch(filters, "event", ev.Action)
    : exactMatch(filters, "event", ev.Action);
  const byType = (type: EngineEvent["Type"], key: string): boolean =>
    values(filters, key).length === 0 || (ev.Type === type && (fuzzyMatch(filters, key, ev.Actor.ID) || fuzzyMatch(filters, key, name)));
  const imageOk =
    values(filters, "image").length === 0 ||
    (ev.Type === "image" && (fuzzyMatch(filters, "image", ev.Actor.ID) || fuzzyMatch(filters, "image", name))) ||
    (ev.Type === "container" && values(filters, "image").some((v) => imageMatches(v, attrs["image"] ?? "")));
  return (
    eventOk &&
    exactMatch(filters, "type", ev.Type) &&
    exactMatch(filters, "scope", ev.scope) &&
    matchKeyValues(filters, "label", attrs) &&
    byType("container", "container") &&
    byType("volume", "volume") &&
    byType("network", "network") &&
    byType("daemon", "daemon") &&
    byType("plugin", "plugin") &&
    byType("config", "config") &&
    byType("secret", "secret") &&
    byType("service", "service") &&
    byType("node", "node") &&
    imageOk
  );
}

/** Docker strips the tag when the filter has none ("busybox" matches a container of "busybox:latest"). */
function imageMatches(filter: string, image: string): boolean {
  if (filter === image) return true;
  const untagged = image.replace(/(:[^/:@]+)?(@.*)?$/, "");
  return !/:[^/]*$/.test(filter) && filter === untagged;
}

export interface EventQuery {
  /** Inclusive lower bound, nanoseconds since the epoch. */
  readonly sinceNs?: bigint;
  /** Inclusive upper bound. */
  readonly untilNs?: bigint;
  readonly filters?: Filters;
}

export interface SubscribeOptions extends EventQuery {
  /**
   * Events a subscriber may fall behind by before it is dropped (HTK-ENGINE-0118). Bounded so one stuck
   * `docker events` client cannot grow the engine's memory without limit.
   */
  readonly bufferSize?: number;
  /** Replay stored events from sinceNs before the live ones (Docker's `since`). */
  readonly replay?: boolean;
}

/** A live event stream. Dispose it when the client goes away. */
export interface EventSubscription extends AsyncIterable<EngineEvent> {
  /** The next event; undefined once the stream ended (until reached, disposed). Rejects with HTK-ENGINE-0118 once dropped. */
  next(): Promise<EngineEvent | undefined>;
  readonly dropped: boolean;
  dispose(): void;
}

/**
 * The event log: rows in the `events` table (written in the same transaction as the change they
 * describe) and live subscribers fed after commit. Old rows are trimmed to `retain`.
 */
export class EventLog {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #retain: number;
  readonly #insert: Statement;
  readonly #subscribers = new Set<Subscriber>();
  #inserted = 0;

  constructor(db: Database, clock: Clock, retain = 10_000) {
    this.#db = db;
    this.#clock = clock;
    this.#retain = retain;
    this.#insert = db.prepare("INSERT INTO events (time_nano, type, action, actor_id, attributes_json) VALUES (?, ?, ?, ?, ?)");
  }

  /** Writes an event row; the caller's transaction makes it atomic with the change. Not yet published. */
  append(draft: EventDraft): StoredEvent {
    const timeNs = this.#clock();
    const info = this.#insert.run(timeNs, draft.Type, draft.Action, draft.Actor.ID, JSON.stringify(draft.Actor.Attributes));
    if (++this.#inserted % 512 === 0) this.#trim();
    return { seq: Number(info.lastInsertRowid), timeNs, event: toEvent(draft, timeNs) };
  }

  /** Feeds committed events to the subscribers. */
  publish(events: readonly StoredEvent[]): void {
    for (const sub of this.#subscribers) for (const e of events) sub.offer(e);
  }

  /** Stored events in order, within the window and matching the filters (HTK-ENGINE-0116 on unknown keys). */
  query(q: EventQuery = {}): StoredEvent[] {
    const filters = q.filters ?? {};
    validateFilterKeys(filters, EVENT_FILTERS);
    const rows = this.#db
      .prepare(
        "SELECT seq, CAST(time_nano AS TEXT) AS t, type, action, actor_id, attributes_json FROM events WHERE time_nano >= ? AND time_nano <= ? ORDER BY seq",
      )
      .all(q.sinceNs ?? 0n, q.untilNs ?? 9_223_372_036_854_775_807n) as Array<{
      seq: number;
      t: string;
      type: EngineEvent["Type"];
      action: string;
      actor_id: string;
      attributes_json: string;
    }>;
    const out: StoredEvent[] = [];
    for (const r of rows) {
      const timeNs = BigInt(r.t);
      const event = toEvent(
        { Type: r.type, Action: r.action, Actor: { ID: r.actor_id, Attributes: JSON.parse(r.attributes_json) as Record<string, string> } },
        timeNs,
      );
      if (matchEvent(event, filters)) out.push({ seq: r.seq, timeNs, event });
    }
    return out;
  }

  /**
   * A stream of events: with `replay`, the stored ones from `sinceNs` first, then live ones, without a
   * gap or a duplicate between the two (the subscription is registered before the replay is read).
   */
  subscribe(options: SubscribeOptions = {}): EventSubscription {
    const filters = options.filters ?? {};
    validateFilterKeys(filters, EVENT_FILTERS);
    const sub = new Subscriber(filters, options.bufferSize ?? 1024, options.untilNs, () => this.#subscribers.delete(sub));
    this.#subscribers.add(sub);
    if (options.replay === true) sub.prime(this.query(options));
    return sub;
  }

  /** Ends every live stream (the engine is stopping): their `next()` resolves undefined. */
  closeAll(): void {
    for (const sub of [...this.#subscribers]) sub.dispose();
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  #trim(): void {
    this.#db.prepare("DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?").run(this.#retain);
  }
}

/** Docker's message shape, including the deprecated fields Docker 26 still fills for containers and images. */
function toEvent(draft: EventDraft, timeNs: bigint): EngineEvent {
  const base = {
    Type: draft.Type,
    Action: draft.Action,
    Actor: { ID: draft.Actor.ID, Attributes: { ...draft.Actor.Attributes } },
    scope: "local" as const,
    time: Number(timeNs / 1_000_000_000n),
    timeNano: Number(timeNs),
  };
  if (draft.Type === "container") {
    const from = draft.Actor.Attributes["image"];
    return { status: draft.Action, id: draft.Actor.ID, ...(from === undefined ? {} : { from }), ...base };
  }
  if (draft.Type === "image") return { status: draft.Action, id: draft.Actor.ID, ...base };
  return base;
}

class Subscriber implements EventSubscription {
  readonly #filters: Filters;
  readonly #limit: number;
  readonly #untilNs: bigint | undefined;
  readonly #onClose: () => void;
  #queue: StoredEvent[] = [];
  #lastSeq = 0;
  #waiter: ((e: StoredEvent | undefined) => void) | undefined;
  #failWaiter: ((err: HtkError) => void) | undefined;
  #error: HtkError | undefined;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(filters: Filters, limit: number, untilNs: bigint | undefined, onClose: () => void) {
    this.#filters = filters;
    this.#limit = Math.max(1, limit);
    this.#untilNs = untilNs;
    this.#onClose = onClose;
    if (untilNs !== undefined) {
      // Docker ends the stream at `until` even when no event arrives.
      const wait = Number((untilNs - BigInt(Date.now()) * 1_000_000n) / 1_000_000n);
      this.#timer = setTimeout(() => this.#end(), Math.max(0, Math.min(wait, 2_147_483_647)));
      this.#timer.unref();
    }
  }

  get dropped(): boolean {
    return this.#error !== undefined;
  }

  prime(events: readonly StoredEvent[]): void {
    // Live events that arrived while the replay was read are already queued: keep order, drop duplicates.
    const live = this.#queue;
    this.#queue = [...events];
    this.#lastSeq = events.at(-1)?.seq ?? 0;
    for (const e of live) if (e.seq > this.#lastSeq) this.#queue.push(e);
  }

  offer(e: StoredEvent): void {
    if (this.#closed || e.seq <= this.#lastSeq) return;
    if (this.#untilNs !== undefined && e.timeNs > this.#untilNs) {
      this.#end();
      return;
    }
    if (!matchEvent(e.event, this.#filters)) return;
    if (this.#waiter !== undefined) {
      const w = this.#waiter;
      this.#waiter = undefined;
      this.#failWaiter = undefined;
      w(e);
      return;
    }
    if (this.#queue.length >= this.#limit) {
      this.#error = htkError("HTK-ENGINE-0118", { buffered: this.#queue.length });
      this.#queue = [];
      this.#close();
      return;
    }
    this.#queue.push(e);
  }

  async next(): Promise<EngineEvent | undefined> {
    const e = await this.#nextStored();
    return e?.event;
  }

  #nextStored(): Promise<StoredEvent | undefined> {
    const head = this.#queue.shift();
    if (head !== undefined) return Promise.resolve(head);
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      this.#waiter = resolve;
      this.#failWaiter = reject;
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EngineEvent> {
    try {
      for (;;) {
        const e = await this.next();
        if (e === undefined) return;
        yield e;
      }
    } finally {
      this.dispose();
    }
  }

  dispose(): void {
    this.#end();
  }

  #end(): void {
    this.#close();
    const w = this.#waiter;
    this.#waiter = undefined;
    this.#failWaiter = undefined;
    w?.(undefined);
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#onClose();
    if (this.#error !== undefined) {
      const f = this.#failWaiter;
      this.#waiter = undefined;
      this.#failWaiter = undefined;
      f?.(this.#error);
    }
  }
}
