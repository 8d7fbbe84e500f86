import { PlainPrinter } from "./plain.ts";
import { TtyPrinter, type TtyOptions } from "./tty.ts";
import type { ProgressEvent } from "./types.ts";

/** `--progress` values (docker buildx's). `auto` is `tty` on a terminal, `plain` otherwise. */
export type ProgressMode = "auto" | "plain" | "tty" | "rawjson" | "quiet";

/** Where a renderer writes: a `process.stderr`-like stream. */
export interface ProgressOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
}

export interface RenderOptions extends TtyOptions {
  /** How often the tty view is redrawn; default 100 ms (BuildKit's refresh rate). */
  readonly refreshMs?: number;
}

/** One event as one JSON line: log bytes in base64 (they need not be text), like buildx's rawjson. */
export function eventToJson(ev: ProgressEvent): string {
  if (ev.kind === "log") {
    const { data, ...rest } = ev;
    return JSON.stringify({ ...rest, data: Buffer.from(data).toString("base64") });
  }
  return JSON.stringify(ev);
}

/** Consumes a build's progress stream and renders it; resolves when the stream ends. */
export async function renderProgress(mode: ProgressMode, events: AsyncIterable<ProgressEvent>, out: ProgressOutput, opts: RenderOptions = {}): Promise<void> {
  const effective = mode === "auto" ? (out.isTTY === true ? "tty" : "plain") : mode;
  switch (effective) {
    case "quiet":
      // Drained, not ignored: an unread stream would only fill its bounded buffer.
      for await (const _ of events) void _;
      return;
    case "rawjson":
      for await (const ev of events) out.write(`${eventToJson(ev)}\n`);
      return;
    case "plain": {
      const p = new PlainPrinter((t) => out.write(t));
      for await (const ev of events) p.handle(ev);
      return;
    }
    case "tty": {
      const p = new TtyPrinter((t) => out.write(t), {
        ...(out.columns === undefined ? {} : { columns: out.columns }),
        ...(out.rows === undefined ? {} : { rows: out.rows }),
        ...opts,
      });
      const timer = setInterval(() => p.draw(), opts.refreshMs ?? 100);
      try {
        for await (const ev of events) p.handle(ev);
      } finally {
        clearInterval(timer);
        p.draw();
      }
      return;
    }
    default:
      return assertNever(effective);
  }
}

function assertNever(x: never): never {
  throw new Error(`Unexpected progress mode: ${JSON.stringify(x)}`);
}
