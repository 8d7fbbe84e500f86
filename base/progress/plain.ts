import type { Digest, ProgressEvent, StatusUpdate } from "./types.ts";

/**
 * `--progress=plain`, line for line as BuildKit's `progressui` text printer writes it, because CI logs
 * and scripts grep for it:
 *
 *     #3 [2/3] RUN make
 *     #3 0.215 building…
 *     #3 DONE 1.2s
 *
 *     #4 [3/3] COPY --from=build /out /
 *     #4 CACHED
 *
 * Rules kept from BuildKit: a blank line before each vertex block but the first; `#N ...` when output
 * moves away from an unfinished vertex; log lines prefixed with seconds since the vertex started (3
 * decimals under 10 s, 2 under 100 s, else 1); a status line is printed again only when it advanced
 * by 5 % or 5 s, or completed; sizes in decimal units (`37B`, `2.10MB`).
 *
 * Event-driven rather than ticked: each event is printed as it arrives, which is what BuildKit's
 * printer converges to when output is not a terminal.
 */
export class PlainPrinter {
  readonly #write: (text: string) => void;
  readonly #vertices = new Map<Digest, PlainVertex>();
  #current: Digest | undefined;
  #notFirst = false;

  constructor(write: (text: string) => void) {
    this.#write = write;
  }

  handle(ev: ProgressEvent): void {
    switch (ev.kind) {
      case "vertex-started": {
        const v = this.#vertex(ev.vertex, ev.index, ev.name);
        v.started = Date.parse(ev.time);
        this.#focus(v);
        break;
      }
      case "vertex-cached": {
        const v = this.#vertex(ev.vertex, ev.index, ev.name);
        this.#focus(v);
        this.#line(v, "CACHED");
        this.#end(v);
        break;
      }
      case "vertex-completed": {
        const v = this.#vertex(ev.vertex, ev.index);
        this.#focus(v);
        this.#closePartial(v);
        const tm = v.started === undefined ? "" : ` ${((Date.parse(ev.time) - v.started) / 1000).toFixed(1)}s`;
        this.#line(v, `DONE${tm}`);
        this.#end(v);
        break;
      }
      case "vertex-errored": {
        const v = this.#vertex(ev.vertex, ev.index);
        this.#focus(v);
        this.#closePartial(v);
        this.#line(v, `ERROR: ${ev.error.message}`);
        this.#end(v);
        break;
      }
      case "vertex-canceled": {
        const v = this.#vertex(ev.vertex, ev.index);
        this.#focus(v);
        this.#closePartial(v);
        this.#line(v, "CANCELED");
        this.#end(v);
        break;
      }
      case "status": {
        const v = this.#vertex(ev.vertex, ev.index);
        if (!v.shouldPrint(ev.status, Date.parse(ev.time))) return;
        this.#focus(v);
        this.#closePartial(v);
        this.#line(v, formatStatus(ev.status, Date.parse(ev.time)));
        break;
      }
      case "log": {
        const v = this.#vertex(ev.vertex, ev.index);
        this.#focus(v);
        this.#log(v, Date.parse(ev.time), new TextDecoder().decode(ev.data));
        break;
      }
      case "log-elided": {
        const v = this.#vertex(ev.vertex, ev.index);
        this.#focus(v);
        this.#closePartial(v);
        this.#line(v, `[${formatBytes(ev.bytes)} of output not shown; the build record has the full log]`);
        break;
      }
      default:
        assertNever(ev);
    }
  }

  #vertex(digest: Digest, index: number, name?: string): PlainVertex {
    let v = this.#vertices.get(digest);
    if (v === undefined) {
      v = new PlainVertex(digest, index, name ?? `vertex ${index}`);
      this.#vertices.set(digest, v);
    } else if (name !== undefined) v.name = name;
    return v;
  }

  /** Starts `v`'s block unless it is the one being printed. */
  #focus(v: PlainVertex): void {
    const digest = v.digest;
    if (digest === this.#current) return;
    const old = this.#current === undefined ? undefined : this.#vertices.get(this.#current);
    if (old !== undefined) {
      this.#closePartial(old);
      this.#write(`#${old.index} ...\n`);
    }
    if (this.#notFirst) this.#write("\n");
    this.#notFirst = true;
    this.#write(`#${v.index} ${v.name}\n`);
    this.#current = digest;
  }

  #end(v: PlainVertex): void {
    v.partial = false;
    this.#current = undefined;
  }

  #line(v: PlainVertex, text: string): void {
    this.#write(`#${v.index} ${text}\n`);
  }

  #closePartial(v: PlainVertex): void {
    if (v.partial) this.#write("\n");
    v.partial = false;
  }

  #log(v: PlainVertex, time: number, text: string): void {
    if (text === "") return;
    const pieces = text.split("\n");
    const complete = text.endsWith("\n");
    if (complete) pieces.pop();
    pieces.forEach((piece, i) => {
      if (i === 0 && v.partial) this.#write(piece);
      else {
        const sec = v.started === undefined ? 0 : Math.max(0, (time - v.started) / 1000);
        const prec = sec < 10 ? 3 : sec < 100 ? 2 : 1;
        this.#write(`#${v.index} ${sec.toFixed(prec)} ${piece}`);
      }
      const last = i === pieces.length - 1;
      if (!last || complete) this.#write("\n");
    });
    v.partial = !complete && pieces.length > 0;
  }
}

class PlainVertex {
  started: number | undefined;
  partial = false;
  readonly #last = new Map<string, { current: number; time: number }>();

  constructor(
    readonly digest: Digest,
    readonly index: number,
    public name: string,
  ) {}

  /** BuildKit's throttle: a status reprints after 5 % progress or 5 s, and always when it completes. */
  shouldPrint(s: StatusUpdate, time: number): boolean {
    const last = this.#last.get(s.id);
    if (last !== undefined && s.completed === undefined) {
      const delta = s.total !== undefined && s.total > 0 ? (s.current - last.current) / s.total : 0;
      if (delta < 0.05 && time - last.time < 5000) return false;
    }
    this.#last.set(s.id, { current: s.current, time });
    return true;
  }
}

function formatStatus(s: StatusUpdate, time: number): string {
  let bytes = "";
  if (s.total !== undefined && s.total !== 0) bytes = ` ${formatBytes(s.current)} / ${formatBytes(s.total)}`;
  else if (s.current !== 0) bytes = ` ${formatBytes(s.current)}`;
  let tm = "";
  const end = s.completed === undefined ? time : Date.parse(s.completed);
  if (s.started !== undefined) {
    const diff = (end - Date.parse(s.started)) / 1000;
    if (diff > 0.01) tm = ` ${diff.toFixed(1)}s`;
  }
  if (s.completed !== undefined) tm += " done";
  return `${s.id}${bytes}${tm}`;
}

const UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];

/** Decimal units, two decimals, as BuildKit's `units.Bytes` with `%.2f`; whole bytes below 1 kB. */
export function formatBytes(n: number): string {
  let i = 0;
  let base = 1;
  while (i < UNITS.length - 1 && Math.abs(n) >= base * 1000) {
    base *= 1000;
    i++;
  }
  return i === 0 ? `${n}B` : `${(n / base).toFixed(2)}${UNITS[i]}`;
}

function assertNever(x: never): never {
  throw new Error(`Unexpected progress event: ${JSON.stringify(x)}`);
}
