import { PlainPrinter, TtyPrinter, type ProgressEvent } from "../base/progress/index.ts";
import type { Output } from "./types.ts";

export type DisplayMode = "auto" | "plain" | "tty" | "rawjson" | "quiet";

/**
 * The build's progress on stderr, as buildx's printer shows it: `#0 building with "NAME" instance
 * using DRIVER driver`, then the renderer of the mode (base/progress), and when the build failed,
 * BuildKit's block for each failed step: its name and last log lines between `------` rules.
 */
export class Display {
  readonly mode: Exclude<DisplayMode, "auto">;
  readonly #out: Output;
  readonly #plain: PlainPrinter | undefined;
  readonly #tty: TtyPrinter | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #vertices = new Map<string, { name: string; started?: number; logs: string[]; partial: string; errored: boolean; index: number }>();
  #maxIndex = 0;

  constructor(mode: DisplayMode, out: Output, description: string) {
    this.mode = mode === "auto" ? (out.isTTY === true ? "tty" : "plain") : mode;
    this.#out = out;
    const write = (t: string): void => void out.write(t);
    if (this.mode === "plain") {
      out.write(`#0 ${description}\n\n`);
      this.#plain = new PlainPrinter(write);
    } else if (this.mode === "tty") {
      // A terminal that reports no size (0×0, as under `script`) gets the renderer's defaults.
      this.#tty = new TtyPrinter(write, { ...(out.columns === undefined || out.columns === 0 ? {} : { columns: out.columns }), ...(out.rows === undefined || out.rows === 0 ? {} : { rows: out.rows }) });
      this.#timer = setInterval(() => this.#tty?.draw(), 100);
    }
  }

  /** The next free vertex number (for vertices the client adds: exports it fetches). */
  nextIndex(): number {
    return this.#maxIndex + 1;
  }

  handle(ev: ProgressEvent): void {
    this.#maxIndex = Math.max(this.#maxIndex, ev.index);
    this.#track(ev);
    switch (this.mode) {
      case "plain":
        this.#plain?.handle(ev);
        return;
      case "tty":
        this.#tty?.handle(ev);
        return;
      case "rawjson":
        this.#out.write(`${JSON.stringify(solveStatus(ev))}\n`);
        return;
      case "quiet":
        return;
    }
  }

  /** Stops redrawing; prints the failed steps' blocks (not in rawjson or quiet modes). */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#tty?.draw();
    if (this.mode !== "plain" && this.mode !== "tty") return;
    for (const v of [...this.#vertices.values()].sort((a, b) => a.index - b.index)) {
      if (!v.errored) continue;
      let block = `------\n > ${v.name}:\n`;
      for (const l of v.logs.slice(-10)) block += `${l}\n`;
      block += "------\n";
      this.#out.write(block);
    }
  }

  #track(ev: ProgressEvent): void {
    let v = this.#vertices.get(ev.vertex);
    if (v === undefined) {
      v = { name: "", logs: [], partial: "", errored: false, index: ev.index };
      this.#vertices.set(ev.vertex, v);
    }
    switch (ev.kind) {
      case "vertex-started":
        v.name = ev.name;
        v.started = Date.parse(ev.time);
        return;
      case "vertex-cached":
        v.name = ev.name;
        return;
      case "vertex-errored":
        // A step cancelled because another failed is not a failure of its own.
        v.errored = !/context canceled/.test(ev.error.message);
        return;
      case "log": {
        const text = v.partial + new TextDecoder().decode(ev.data);
        const lines = text.split("\n");
        v.partial = lines.pop() ?? "";
        const t = Date.parse(ev.time);
        const sec = v.started === undefined || Number.isNaN(t) ? 0 : Math.max(0, (t - v.started) / 1000);
        const stamp = sec.toFixed(sec < 10 ? 3 : sec < 100 ? 2 : 1);
        for (const l of lines) v.logs.push(`${stamp} ${l}`);
        if (v.logs.length > 10) v.logs.splice(0, v.logs.length - 10);
        return;
      }
      default:
        return;
    }
  }
}

/**
 * BuildKit's code frame of the lines a failed step came from (errdefs Source.Print): the file name and
 * first line, two lines of context (four for a one-line range), `>>>` on the step's lines.
 */
export function sourceFrame(filename: string, data: Uint8Array, ranges: ReadonlyArray<{ readonly startLine: number; readonly endLine: number }>): string {
  const lines = new TextDecoder().decode(data).split("\n");
  if (ranges.length === 0) return "";
  let start = Math.min(...ranges.map((r) => r.startLine));
  let end = Math.max(...ranges.map((r) => r.endLine));
  if (start < 1 || start > lines.length) return "";
  if (end > lines.length) end = lines.length;
  const first = start;
  const pad = end === start ? 4 : 2;
  let p = 0;
  while (p < pad) {
    if (start > 1) {
      start--;
      p++;
    }
    if (end !== lines.length) {
      end++;
      p++;
    }
    p++;
  }
  let out = `${filename}:${first}\n--------------------\n`;
  for (let i = start; i <= end; i++) {
    const marked = ranges.some((r) => i >= r.startLine && i <= r.endLine);
    out += ` ${String(i).padStart(3)} | ${marked ? ">>>" : "   "} ${lines[i - 1] ?? ""}\n`;
  }
  return `${out}--------------------\n`;
}

/**
 * `--progress=rawjson` as buildx prints it: one BuildKit SolveStatus object per line (`vertexes`,
 * `statuses`, `logs`), which tools that read buildx's raw progress parse.
 */
export function solveStatus(ev: ProgressEvent): Record<string, unknown> {
  switch (ev.kind) {
    case "vertex-started":
      return { vertexes: [{ digest: ev.vertex, name: ev.name, started: ev.time }] };
    case "vertex-cached":
      return { vertexes: [{ digest: ev.vertex, name: ev.name, started: ev.time, completed: ev.time, cached: true }] };
    case "vertex-completed":
      return { vertexes: [{ digest: ev.vertex, completed: ev.time }] };
    case "vertex-errored":
      return { vertexes: [{ digest: ev.vertex, completed: ev.time, error: ev.error.message }] };
    case "vertex-canceled":
      return { vertexes: [{ digest: ev.vertex, completed: ev.time, error: "context canceled" }] };
    case "status":
      return {
        statuses: [
          {
            id: ev.status.id,
            vertex: ev.vertex,
            current: ev.status.current,
            ...(ev.status.total === undefined ? {} : { total: ev.status.total }),
            timestamp: ev.time,
            ...(ev.status.started === undefined ? {} : { started: ev.status.started }),
            ...(ev.status.completed === undefined ? {} : { completed: ev.status.completed }),
          },
        ],
      };
    case "log":
      return { logs: [{ vertex: ev.vertex, stream: ev.stream, data: Buffer.from(ev.data).toString("base64"), timestamp: ev.time }] };
    case "log-elided":
      return { logs: [{ vertex: ev.vertex, stream: 1, data: Buffer.from(`[${ev.bytes} bytes of output not shown]\n`).toString("base64"), timestamp: ev.time }] };
  }
}
