import { formatBytes } from "./plain.ts";
import type { Digest, ProgressEvent } from "./types.ts";

/**
 * `--progress=tty`: a live view redrawn in place, as BuildKit's: a `[+] Building 4.2s (3/5)` header,
 * one line per step (finished steps collapse to their line: `=> CACHED …`, `=> [2/3] RUN … 1.2s`),
 * and the last few log lines under each running step, which disappear when the step ends.
 *
 * Redrawing moves the cursor up over the previous frame and clears each line (`ESC[nA`, `ESC[2K`),
 * so nothing but the frame's own lines is touched. Lines are cut to the terminal width: a wrapped
 * line would break the cursor arithmetic.
 */
export interface TtyOptions {
  readonly columns?: number;
  /** Terminal height: a frame taller than this shows the header and the newest lines only. */
  readonly rows?: number;
  /** Log lines shown under a running step (BuildKit shows 6). */
  readonly logLines?: number;
  readonly now?: () => number;
}

interface TtyVertex {
  readonly index: number;
  name: string;
  started: number | undefined;
  completed: number | undefined;
  state: "running" | "cached" | "done" | "error" | "canceled";
  logs: string[];
  partial: string;
  /** Transfer statuses by id, shown under a running step (`=> => sha256:… 1.2MB / 3.4MB`). */
  statuses: Map<string, string>;
  error?: string;
}

const ESC = "\u001b[";

export class TtyPrinter {
  readonly #write: (text: string) => void;
  readonly #columns: number;
  readonly #rows: number;
  readonly #logLines: number;
  readonly #now: () => number;
  readonly #vertices = new Map<Digest, TtyVertex>();
  readonly #start: number;
  #lastHeight = 0;

  constructor(write: (text: string) => void, opts: TtyOptions = {}) {
    this.#write = write;
    this.#columns = Math.max(20, opts.columns ?? 80);
    this.#rows = Math.max(3, opts.rows ?? 10_000);
    this.#logLines = opts.logLines ?? 6;
    this.#now = opts.now ?? Date.now;
    this.#start = this.#now();
  }

  handle(ev: ProgressEvent): void {
    const v = this.#vertex(ev.vertex, ev.index, "name" in ev ? ev.name : undefined);
    const t = Date.parse(ev.time);
    switch (ev.kind) {
      case "vertex-started":
        v.started = t;
        v.state = "running";
        break;
      case "vertex-cached":
        v.state = "cached";
        v.completed = t;
        break;
      case "vertex-completed":
        v.state = "done";
        v.completed = t;
        v.logs = [];
        break;
      case "vertex-errored":
        v.state = "error";
        v.completed = t;
        v.error = ev.error.message;
        break;
      case "vertex-canceled":
        v.state = "canceled";
        v.completed = t;
        break;
      case "status": {
        const st = ev.status;
        const size = st.total !== undefined && st.total > 0 ? ` ${formatBytes(st.current)} / ${formatBytes(st.total)}` : st.current > 0 ? ` ${formatBytes(st.current)}` : "";
        v.statuses.set(st.id, `${st.id}${size}${st.completed === undefined ? "" : " done"}`);
        break;
      }
      case "log": {
        const text = v.partial + new TextDecoder().decode(ev.data);
        const lines = text.split("\n");
        v.partial = lines.pop() ?? "";
        v.logs.push(...lines);
        if (v.logs.length > this.#logLines) v.logs = v.logs.slice(-this.#logLines);
        break;
      }
      case "log-elided":
        break;
      default:
        assertNever(ev);
    }
  }

  /** Redraws the frame over the previous one. */
  draw(): void {
    const all = this.frame();
    // Cursor-up cannot go above the screen: a taller frame would be redrawn in the wrong place.
    const lines = all.length < this.#rows ? all : [all[0] ?? "", ...all.slice(all.length - (this.#rows - 2))];
    let out = this.#lastHeight > 0 ? `${ESC}${this.#lastHeight}A` : "";
    for (const line of lines) out += `${ESC}2K${line}\n`;
    // A shorter frame than the last: clear what is left below it, then return.
    const extra = this.#lastHeight - lines.length;
    if (extra > 0) out += `${`${ESC}2K\n`.repeat(extra)}${ESC}${extra}A`;
    this.#lastHeight = lines.length;
    this.#write(out);
  }

  /** The lines of the current frame (without escape codes): what tests compare. */
  frame(): string[] {
    const now = this.#now();
    const all = [...this.#vertices.values()].sort((a, b) => a.index - b.index);
    const finished = all.filter((v) => v.state !== "running").length;
    const running = all.some((v) => v.state === "running");
    const lines = [`[+] Building ${secs(now - this.#start)} (${finished}/${all.length})${running ? "" : " FINISHED"}`];
    for (const v of all) {
      const prefix = v.state === "cached" ? "CACHED " : v.state === "error" ? "ERROR " : v.state === "canceled" ? "CANCELED " : "";
      const tm = v.state === "cached" ? "0.0s" : v.started === undefined ? "" : secs((v.completed ?? now) - v.started);
      lines.push(this.#fit(` => ${prefix}${v.name}`, tm));
      if (v.state === "running") for (const st of v.statuses.values()) lines.push(this.#fit(` => => ${st}`, ""));
      if (v.state === "running" || v.state === "error") {
        for (const l of v.logs) lines.push(this.#fit(` => => # ${l}`, ""));
      }
      if (v.state === "error" && v.error !== undefined) lines.push(this.#fit(` => => ERROR: ${v.error}`, ""));
    }
    return lines;
  }

  #fit(left: string, right: string): string {
    const width = this.#columns;
    const room = width - right.length - 1;
    const l = left.length > room ? `${left.slice(0, Math.max(0, room - 1))}…` : left;
    return right === "" ? l : `${l}${" ".repeat(Math.max(1, width - l.length - right.length))}${right}`;
  }

  #vertex(digest: Digest, index: number, name: string | undefined): TtyVertex {
    let v = this.#vertices.get(digest);
    if (v === undefined) {
      v = { index, name: name ?? `vertex ${index}`, started: undefined, completed: undefined, state: "running", logs: [], partial: "", statuses: new Map() };
      this.#vertices.set(digest, v);
    } else if (name !== undefined) v.name = name;
    return v;
  }
}

const secs = (ms: number): string => `${(Math.max(0, ms) / 1000).toFixed(1)}s`;

function assertNever(x: never): never {
  throw new Error(`Unexpected progress event: ${JSON.stringify(x)}`);
}
