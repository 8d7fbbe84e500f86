import type { Statement } from "better-sqlite3";
import { filterContainers, statusText, type Container, type Filters, type StateStore } from "../state/index.ts";

/**
 * `GET /containers/json` without re-reading the state on every call. `docker ps` (and every Compose
 * or IDE poll) asks often and the answer rarely changes: the records, their networks' endpoints and
 * the rendered summaries are kept and reused for as long as the state database has not changed.
 *
 * The key is SQLite's `total_changes()` on the daemon's one connection (the data root is locked to
 * one daemon): every insert, update and delete the engine makes bumps it, so any change — a
 * container's state, a rename, a network connect, a health result — invalidates the lot, and the
 * check costs one trivial statement. What still changes with time is `Status` ("Up 5 minutes"):
 * each summary is kept as its JSON text cut around that field, which is rendered per request. The
 * bytes sent are exactly `JSON.stringify` of the summaries the manager renders.
 */
export class ContainerListCache {
  readonly #state: StateStore;
  readonly #render: (c: Container, nowMs: number) => Record<string, unknown>;
  readonly #changes: Statement;
  #key = -1;
  #containers: readonly Container[] = [];
  readonly #json = new Map<string, { readonly container: Container; readonly head: string; readonly tail: string }>();

  /** `render`: the manager's summary of one container (ContainerSummary, Status included). */
  constructor(state: StateStore, render: (c: Container, nowMs: number) => Record<string, unknown>) {
    this.#state = state;
    this.#render = render;
    this.#changes = state.ctx.db.prepare("SELECT total_changes()").pluck();
  }

  /** Docker's filters over every record, newest first (as `ContainerStore.list`). */
  list(filters: Filters, options: { readonly all: boolean; readonly limit?: number; readonly ancestorImageIds: (ref: string) => readonly string[] }): readonly Container[] {
    this.#refresh();
    return filterContainers(this.#containers, filters, { ...options, resolveContainer: (ref) => this.#state.containers.resolve(ref) });
  }

  /** The JSON text of one listed container's summary at `nowMs`. */
  summaryJson(c: Container, nowMs: number): string {
    let entry = this.#json.get(c.id);
    if (entry === undefined || entry.container !== c) {
      const summary = this.#render(c, nowMs);
      const text = JSON.stringify({ ...summary, Status: STATUS_MARK });
      const at = text.indexOf(STATUS_MARK_JSON);
      // Keys are never this text, and a value equal to it cannot be: JSON escapes the NUL bytes.
      if (at < 0 || text.indexOf(STATUS_MARK_JSON, at + 1) >= 0) return JSON.stringify(summary);
      entry = { container: c, head: text.slice(0, at), tail: text.slice(at + STATUS_MARK_JSON.length) };
      this.#json.set(c.id, entry);
    }
    return `${entry.head}${JSON.stringify(statusText(c, nowMs))}${entry.tail}`;
  }

  #refresh(): void {
    const key = Number(this.#changes.get());
    if (key === this.#key) return;
    this.#containers = this.#state.containers.all();
    this.#key = key;
    // Summaries rendered from records that are gone, or from before a change of anything they
    // show (a network's endpoints are not in the record): rendered again on next use.
    this.#json.clear();
  }
}

const STATUS_MARK = "\u0000hatake-status\u0000";
const STATUS_MARK_JSON = JSON.stringify(STATUS_MARK);
