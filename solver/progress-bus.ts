import type { Digest, ProgressEvent, StatusUpdate } from "./types.ts";

export interface ProgressBusOptions {
  /** Events held for the consumer before statuses are dropped; default 1024. */
  readonly maxEvents?: number;
  /** Log bytes held for the consumer before log chunks are elided from the display; default 1 MiB. */
  readonly maxLogBytes?: number;
}

export interface ProgressBusStats {
  readonly buffered: number;
  readonly bufferedLogBytes: number;
  /** The most events ever buffered at once: what a memory test asserts on. */
  readonly peakBuffered: number;
  readonly coalescedStatuses: number;
  readonly droppedStatuses: number;
  readonly elidedLogBytes: number;
}

type Slot = { event: ProgressEvent } | undefined;

/**
 * The display stream of one build, bounded so that a slow consumer (a terminal over SSH, a client that
 * stopped reading) cannot grow memory without bound. What it may do when behind, by kind:
 *
 * - vertex lifecycle events are always kept: at most five per vertex, so bounded by the graph;
 * - a status replaces the undelivered status with the same id (BuildKit's printer only shows the
 *   latest anyway); past `maxEvents`, new status ids are dropped unless they mark completion;
 * - log chunks past `maxLogBytes` are replaced by one `log-elided` event per vertex counting the
 *   bytes. The build record's log file is written separately and always gets every byte.
 *
 * One consumer; iterating ends after {@link close} once the buffer is drained.
 */
export class ProgressBus implements AsyncIterable<ProgressEvent> {
  readonly #maxEvents: number;
  readonly #maxLogBytes: number;
  #queue: Slot[] = [];
  #head = 0;
  #live = 0;
  #logBytes = 0;
  #peak = 0;
  #coalesced = 0;
  #dropped = 0;
  #elided = 0;
  readonly #statusSlot = new Map<string, number>();
  readonly #elidedSlot = new Map<Digest, number>();
  #closed = false;
  #wake: (() => void) | undefined;
  #iterating = false;

  constructor(opts: ProgressBusOptions = {}) {
    this.#maxEvents = opts.maxEvents ?? 1024;
    this.#maxLogBytes = opts.maxLogBytes ?? 1024 * 1024;
  }

  emit(event: ProgressEvent): void {
    if (this.#closed) return;
    switch (event.kind) {
      case "status": {
        const id = statusKey(event.vertex, event.status);
        const at = this.#statusSlot.get(id);
        if (at !== undefined) {
          this.#queue[at - this.#base] = { event };
          this.#coalesced++;
          return;
        }
        if (this.#live >= this.#maxEvents && event.status.completed === undefined) {
          this.#dropped++;
          return;
        }
        this.#statusSlot.set(id, this.#push(event));
        break;
      }
      case "log": {
        if (this.#logBytes + event.data.length > this.#maxLogBytes || this.#live >= this.#maxEvents) {
          this.#elide(event.vertex, event.index, event.time, event.data.length);
          return;
        }
        this.#logBytes += event.data.length;
        this.#push(event);
        break;
      }
      case "log-elided":
        this.#elide(event.vertex, event.index, event.time, event.bytes);
        return;
      case "vertex-started":
      case "vertex-cached":
      case "vertex-completed":
      case "vertex-errored":
      case "vertex-canceled":
        this.#push(event);
        break;
      default:
        assertNever(event);
    }
  }

  /** No more events; the consumer drains what is buffered and stops. */
  close(): void {
    this.#closed = true;
    this.#notify();
  }

  stats(): ProgressBusStats {
    return {
      buffered: this.#live,
      bufferedLogBytes: this.#logBytes,
      peakBuffered: this.#peak,
      coalescedStatuses: this.#coalesced,
      droppedStatuses: this.#dropped,
      elidedLogBytes: this.#elided,
    };
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ProgressEvent, void, undefined> {
    if (this.#iterating) throw new Error("A progress stream has one consumer");
    this.#iterating = true;
    for (;;) {
      const next = this.#shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #elide(vertex: Digest, index: number, time: string, bytes: number): void {
    this.#elided += bytes;
    const at = this.#elidedSlot.get(vertex);
    const slot = at === undefined ? undefined : this.#queue[at - this.#base];
    if (at !== undefined && slot !== undefined && slot.event.kind === "log-elided") {
      this.#queue[at - this.#base] = { event: { ...slot.event, bytes: slot.event.bytes + bytes, time } };
      return;
    }
    this.#elidedSlot.set(vertex, this.#push({ kind: "log-elided", vertex, index, time, bytes }));
  }

  #push(event: ProgressEvent): number {
    this.#queue.push({ event });
    this.#live++;
    if (this.#live > this.#peak) this.#peak = this.#live;
    this.#notify();
    return this.#queue.length - 1 + this.#base;
  }

  /** Slots are addressed by absolute position; `#base` is how many were compacted away. */
  #base = 0;

  #shift(): ProgressEvent | undefined {
    const local = this.#head - this.#base;
    if (local >= this.#queue.length) return undefined;
    const slot = this.#queue[local];
    this.#queue[local] = undefined;
    this.#head++;
    this.#live--;
    if (local > 1024 && local * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(local + 1);
      this.#base = this.#head;
    }
    if (slot === undefined) return this.#shift();
    const ev = slot.event;
    const abs = this.#head - 1;
    if (ev.kind === "status") {
      const id = statusKey(ev.vertex, ev.status);
      if (this.#statusSlot.get(id) === abs) this.#statusSlot.delete(id);
    } else if (ev.kind === "log") this.#logBytes -= ev.data.length;
    else if (ev.kind === "log-elided" && this.#elidedSlot.get(ev.vertex) === abs) this.#elidedSlot.delete(ev.vertex);
    return ev;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

const statusKey = (vertex: Digest, s: StatusUpdate): string => `${vertex}\0${s.id}`;

function assertNever(x: never): never {
  throw new Error(`Unexpected progress event: ${JSON.stringify(x)}`);
}
