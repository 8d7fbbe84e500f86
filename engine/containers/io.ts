import type { Readable, Writable } from "node:stream";

/**
 * A container's standard streams while the engine runs: what Docker's StreamConfig and broadcaster
 * do. The output of each run goes, as it comes, to every sink attached at that moment (the log
 * driver, `docker attach`/`docker run` sessions); input goes from one attached client to the
 * container's stdin.
 *
 * Bounded: when any sink cannot take more (a slow client, a busy disk), the container's output pipes
 * are paused until it drains. Like Docker's broadcaster, a client that stops reading holds the
 * container's output up (the container blocks once its pipe is full); `docker logs -f` reads the log
 * file and never does.
 */

/** Docker's stdcopy stream numbers. */
export type StreamId = 1 | 2;

export interface OutputSink {
  /** One chunk of the container's output. False: call again only after `onDrain` fired. */
  write(stream: StreamId, chunk: Buffer): boolean;
  /** Called once, when the sink can take more after `write` returned false. */
  onDrain(callback: () => void): void;
  /** The run is over and everything it wrote was delivered. */
  end(): void;
}

/** What a run's process gave us (the runtime's `RunningContainer`). */
export interface RunStdio {
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly stdin: Writable | null;
}

type StdinWaiter = (stdin: Writable) => void;

export class ContainerIO {
  readonly #sinks = new Set<OutputSink>();
  readonly #blocked = new Set<OutputSink>();
  #run: { readonly stdio: RunStdio; stdinClosed: boolean; readonly sources: Readable[] } | undefined;
  readonly #stdinWaiters = new Set<StdinWaiter>();

  /** Adds a sink for the output from now on; returns its removal. */
  addSink(sink: OutputSink): () => void {
    this.#sinks.add(sink);
    return () => {
      this.#sinks.delete(sink);
      if (this.#blocked.delete(sink)) this.#maybeResume();
    };
  }

  get running(): boolean {
    return this.#run !== undefined;
  }

  /**
   * Connects a run's stdio: both output streams are pumped to the sinks. Resolves when both ended
   * (the process and everything that held its pipes are gone).
   */
  connect(stdio: RunStdio): Promise<void> {
    const run = { stdio, stdinClosed: stdio.stdin === null, sources: [stdio.stdout, stdio.stderr] };
    this.#run = run;
    stdio.stdin?.on("error", () => undefined);
    const pump = (source: Readable, stream: StreamId): Promise<void> =>
      new Promise((resolve) => {
        source.on("data", (chunk: Buffer) => {
          for (const sink of [...this.#sinks]) {
            if (this.#blocked.has(sink)) continue;
            if (!sink.write(stream, chunk)) {
              this.#blocked.add(sink);
              sink.onDrain(() => {
                if (this.#blocked.delete(sink)) this.#maybeResume();
              });
            }
          }
          if (this.#blocked.size > 0) for (const s of run.sources) s.pause();
        });
        // An empty stream can end before anyone listens (a container that wrote nothing to stderr).
        if (source.readableEnded || source.destroyed) return resolve();
        source.once("end", () => resolve());
        source.once("close", () => resolve());
        source.once("error", () => resolve());
      });
    const ended = Promise.all([pump(stdio.stdout, 1), pump(stdio.stderr, 2)]).then(() => undefined);
    if (stdio.stdin !== null) for (const w of [...this.#stdinWaiters]) w(stdio.stdin);
    return ended;
  }

  /**
   * The run is over: stdin is closed, every sink is told (attach sessions end), streams still open
   * (a pipe held by an orphaned process, past the grace period) are let go.
   */
  finish(): void {
    const run = this.#run;
    this.#run = undefined;
    if (run !== undefined) {
      if (!run.stdinClosed) run.stdio.stdin?.end();
      for (const s of run.sources) {
        s.removeAllListeners("data");
        s.resume();
      }
    }
    this.#blocked.clear();
    for (const sink of [...this.#sinks]) sink.end();
  }

  /**
   * The running container's stdin, now or as soon as a run with one starts (`docker attach` before
   * `docker start`). Returns a cancel function. Not called again after `closeStdin`.
   */
  whenStdin(callback: (stdin: Writable) => void): () => void {
    const run = this.#run;
    if (run !== undefined && run.stdio.stdin !== null && !run.stdinClosed) {
      callback(run.stdio.stdin);
      return () => undefined;
    }
    const waiter: StdinWaiter = (stdin) => {
      this.#stdinWaiters.delete(waiter);
      callback(stdin);
    };
    this.#stdinWaiters.add(waiter);
    return () => this.#stdinWaiters.delete(waiter);
  }

  /** `StdinOnce`: the attached client closed its input, so the container gets end-of-file. */
  closeStdin(): void {
    const run = this.#run;
    if (run === undefined || run.stdinClosed) return;
    run.stdinClosed = true;
    run.stdio.stdin?.end();
  }

  #maybeResume(): void {
    if (this.#blocked.size > 0 || this.#run === undefined) return;
    for (const s of this.#run.sources) s.resume();
  }
}

/**
 * Docker's detach keys (`--detach-keys`, default ctrl-p,ctrl-q) for TTY sessions: `parseDetachKeys`
 * reads the option, the scanner passes input through until the sequence appears. A partial match at
 * a chunk's end is held back until the next chunk decides.
 */
export function parseDetachKeys(spec: string): number[] {
  const out: number[] = [];
  for (const key of spec.split(",")) {
    const k = key.trim();
    if (k.length === 1) out.push(k.charCodeAt(0));
    else if (/^ctrl-[a-z@[\\\]^_]$/i.test(k)) {
      const c = k.slice(5);
      const code = /[a-z]/i.test(c) ? c.toLowerCase().charCodeAt(0) - 96 : { "@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, _: 31 }[c] ?? -1;
      if (code < 0) throw new Error(`Unknown character: '${k}'`);
      out.push(code);
    } else throw new Error(`Unknown character: '${k}'`);
  }
  return out;
}

export const DEFAULT_DETACH_KEYS = [16, 17];

export class DetachKeyScanner {
  readonly #keys: readonly number[];
  #held: number[] = [];

  constructor(keys: readonly number[]) {
    this.#keys = keys;
  }

  /** The bytes to forward, and whether the sequence was typed (everything after it is dropped). */
  scan(chunk: Buffer): { forward: Buffer; detach: boolean } {
    if (this.#keys.length === 0) return { forward: chunk, detach: false };
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.#keys[this.#held.length]) {
        this.#held.push(byte);
        if (this.#held.length === this.#keys.length) return { forward: Buffer.from(out), detach: true };
        continue;
      }
      out.push(...this.#held);
      this.#held = [];
      if (byte === this.#keys[0]) this.#held.push(byte);
      else out.push(byte);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}
