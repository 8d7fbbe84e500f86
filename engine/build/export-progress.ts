import { createHash } from "node:crypto";
import type { Digest } from "../../cache/index.ts";
import { renderProgress, type ProgressEvent, type ProgressMode, type ProgressOutput } from "../../solver/index.ts";

/**
 * The progress of what happens after the solve (BuildKit's exporter vertex, `#N exporting to image`):
 * one vertex numbered after the build's own, with one-off statuses (`exporting layers`, `pushing
 * layers`, `pushing manifest for …`) rendered by the same renderer as the build, so `--progress`
 * modes stay consistent.
 */
export class ExportProgress {
  readonly #vertex: Digest;
  readonly #index: number;
  readonly #queue: ProgressEvent[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  readonly #rendered: Promise<void>;

  constructor(mode: ProgressMode, out: ProgressOutput, index: number, name: string) {
    this.#vertex = `sha256:${createHash("sha256").update(`export:${index}:${name}:${Date.now()}`).digest("hex")}` as Digest;
    this.#index = index;
    // The plain printer separates vertex blocks with a blank line; this block follows the build's.
    if (mode === "plain" || (mode === "auto" && out.isTTY !== true)) out.write("\n");
    this.#rendered = renderProgress(mode, this.#events(), out);
    this.#push({ kind: "vertex-started", vertex: this.#vertex, index, name, time: now() });
  }

  /** A status line printed when it starts and again with `done` when the returned function is called. */
  oneOff(id: string): () => void {
    const started = now();
    this.#push({ kind: "status", vertex: this.#vertex, index: this.#index, time: started, status: { id, current: 0, started } });
    return () => {
      const completed = now();
      this.#push({ kind: "status", vertex: this.#vertex, index: this.#index, time: completed, status: { id, current: 0, started, completed } });
    };
  }

  /** Ends the vertex (DONE, or its error) and waits until everything is rendered. */
  async close(error?: Error): Promise<void> {
    if (this.#closed) return this.#rendered;
    const time = now();
    if (error === undefined) this.#push({ kind: "vertex-completed", vertex: this.#vertex, index: this.#index, time });
    else this.#push({ kind: "vertex-errored", vertex: this.#vertex, index: this.#index, time, error: { id: errorId(error), message: error.message } });
    this.#closed = true;
    this.#wake?.();
    return this.#rendered;
  }

  #push(ev: ProgressEvent): void {
    if (this.#closed) return;
    this.#queue.push(ev);
    this.#wake?.();
  }

  async *#events(): AsyncGenerator<ProgressEvent> {
    for (;;) {
      const ev = this.#queue.shift();
      if (ev !== undefined) {
        yield ev;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }
}

function errorId(err: Error): string {
  const id = (err as { id?: unknown }).id;
  return typeof id === "string" ? id : "HTK-CORE-0001";
}

function now(): string {
  return new Date().toISOString();
}
