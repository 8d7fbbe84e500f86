import type { Database } from "better-sqlite3";
import type { Clock } from "./clock.ts";
import type { EventLog, StoredEvent } from "./events.ts";
import type { EventDraft } from "./types.ts";

/**
 * What every repository shares: the connection, the clock, the event log and the transaction helper
 * that publishes a transaction's events to live subscribers only after it commits (a rolled-back change
 * never reaches `docker events`).
 */
export class StateContext {
  readonly db: Database;
  readonly clock: Clock;
  readonly events: EventLog;
  #pending: StoredEvent[] = [];
  #depth = 0;

  constructor(db: Database, clock: Clock, events: EventLog) {
    this.db = db;
    this.clock = clock;
    this.events = events;
  }

  /**
   * Runs `fn` in one write transaction (IMMEDIATE, so a second connection waits on the busy timeout
   * instead of failing on upgrade). Nested calls become savepoints.
   */
  tx<T>(fn: () => T): T {
    const mark = this.#pending.length;
    this.#depth++;
    let result: T;
    try {
      const run = this.db.transaction(fn);
      result = this.#depth === 1 ? run.immediate() : run();
    } catch (err) {
      this.#pending.length = mark;
      throw err;
    } finally {
      this.#depth--;
    }
    if (this.#depth === 0) {
      const committed = this.#pending;
      this.#pending = [];
      this.events.publish(committed);
    }
    return result;
  }

  /** Records an event inside the current transaction. */
  emit(draft: EventDraft): StoredEvent {
    if (this.#depth === 0) throw new Error("emit outside a state transaction");
    const stored = this.events.append(draft);
    this.#pending.push(stored);
    return stored;
  }
}
