import { htkError, isHtkError } from "../../base/errors/index.ts";
import { parseFilters, type EventSubscription, type StateStore } from "../state/index.ts";
import type { RequestContext, Route } from "./types.ts";

/**
 * Docker's timetypes.ParseTimestamps as the events endpoint uses it: Unix seconds with an optional
 * fraction of up to nine digits ("1700000000", "1700000000.000000123"); the docker CLI converts
 * `--since 10m` or a date to that form before sending. Undefined for an empty value.
 */
export function parseEventTimestamp(param: string, value: string | null): bigint | undefined {
  if (value === null || value === "") return undefined;
  const m = /^(-?\d+)(?:\.(\d{1,9}))?$/.exec(value);
  if (m === null) throw htkError("HTK-ENGINE-0465", { param, value });
  return BigInt(m[1] ?? "0") * 1_000_000_000n + BigInt((m[2] ?? "").padEnd(9, "0") || "0");
}

/** The time window of a request: replay bounds and whether the stream ends after the replay. */
export interface EventWindow {
  readonly sinceNs: bigint | undefined;
  readonly untilNs: bigint | undefined;
  /** Docker replays its buffer only when `since` or `until` is given. */
  readonly replay: boolean;
  /** `until` has passed: send the stored events and end. */
  readonly pastOnly: boolean;
}

export function eventWindow(since: string | null, until: string | null, nowNs: bigint): EventWindow {
  const sinceNs = parseEventTimestamp("since", since);
  const untilNs = parseEventTimestamp("until", until);
  if (untilNs !== undefined && sinceNs !== undefined && untilNs < sinceNs) {
    throw htkError("HTK-ENGINE-0464", { since: since ?? "", until: until ?? "" });
  }
  return { sinceNs, untilNs, replay: sinceNs !== undefined || untilNs !== undefined, pastOnly: untilNs !== undefined && untilNs < nowNs };
}

/**
 * `GET /events`: newline-delimited EventMessage JSON, as Docker streams it. The stored events of the
 * window come first, then live ones without a gap or a duplicate (the EventLog's subscription); the
 * stream ends at `until`, when the client goes away, when the engine stops, or when the client reads
 * so slowly that its bounded buffer overflows (HTK-ENGINE-0118, logged: the headers are sent already).
 * Writes wait for the socket to drain, so a slow reader costs at most the subscription's buffer.
 */
export function eventRoutes(services: { readonly state: StateStore; readonly signal: AbortSignal }): Route[] {
  return [
    {
      method: "GET",
      pattern: "/events",
      query: ["since", "until", "filters"],
      async handle(ctx) {
        const window = eventWindow(ctx.query.get("since"), ctx.query.get("until"), BigInt(Date.now()) * 1_000_000n);
        const filters = parseFilters(ctx.query.get("filters"));
        const events = services.state.events;
        const sub: EventSubscription | undefined = window.pastOnly
          ? undefined
          : events.subscribe({
              replay: window.replay,
              filters,
              ...(window.sinceNs === undefined ? {} : { sinceNs: window.sinceNs }),
              ...(window.untilNs === undefined ? {} : { untilNs: window.untilNs }),
            });
        const past = window.pastOnly
          ? events.query({ filters, ...(window.sinceNs === undefined ? {} : { sinceNs: window.sinceNs }), ...(window.untilNs === undefined ? {} : { untilNs: window.untilNs }) })
          : [];
        const stop = (): void => sub?.dispose();
        ctx.signal.addEventListener("abort", stop, { once: true });
        services.signal.addEventListener("abort", stop, { once: true });
        try {
          ctx.res.writeHead(200, { "Content-Type": "application/json" });
          ctx.res.flushHeaders();
          for (const e of past) await write(ctx, `${JSON.stringify(e.event)}\n`);
          if (sub !== undefined) {
            for (;;) {
              let e;
              try {
                e = await sub.next();
              } catch (err) {
                if (isHtkError(err)) ctx.log.warn({ id: err.id }, err.message);
                break;
              }
              if (e === undefined) break;
              await write(ctx, `${JSON.stringify(e)}\n`);
            }
          }
        } finally {
          stop();
          ctx.signal.removeEventListener("abort", stop);
          services.signal.removeEventListener("abort", stop);
          if (!ctx.res.writableEnded) ctx.res.end();
        }
      },
    },
  ];
}

/** Writes a line and waits for the socket to drain when its buffer is full (or the client to go away). */
async function write(ctx: RequestContext, line: string): Promise<void> {
  if (ctx.res.destroyed || ctx.signal.aborted) return;
  if (ctx.res.write(line)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      ctx.res.off("drain", done);
      ctx.res.off("close", done);
      resolve();
    };
    ctx.res.on("drain", done);
    ctx.res.on("close", done);
  });
}
