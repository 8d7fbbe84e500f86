/** At most `limit` holders at once; waiters are served in order and leave the queue when their signal aborts. */
export class Semaphore {
  readonly #limit: number;
  #held = 0;
  readonly #waiters: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  get held(): number {
    return this.#held;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves with the release function once a slot is free. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.#held < this.#limit) {
      this.#held++;
      return this.#releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(wake);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal.reason as Error);
      };
      this.#waiters.push(wake);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    // The slot was handed over by the releaser (held was not decremented).
    return this.#releaser();
  }

  #releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiters.shift();
      if (next !== undefined) next();
      else this.#held--;
    };
  }
}

/**
 * Builds share the cache; a prune needs it to itself. Builds enter together; a prune waits until the
 * running builds have left and holds new builds back meanwhile (a waiting prune is not starved by a
 * stream of builds).
 */
export class BuildGate {
  #builds = 0;
  #prunes = 0;
  #pruning = false;
  readonly #changed = new Set<() => void>();

  async enterBuild(signal: AbortSignal): Promise<() => void> {
    await this.#until(() => !this.#pruning && this.#prunes === 0, signal);
    this.#builds++;
    return this.#once(() => {
      this.#builds--;
    });
  }

  async enterPrune(signal: AbortSignal): Promise<() => void> {
    this.#prunes++;
    try {
      await this.#until(() => this.#builds === 0 && !this.#pruning, signal);
    } catch (err) {
      this.#prunes--;
      this.#notify();
      throw err;
    }
    this.#prunes--;
    this.#pruning = true;
    return this.#once(() => {
      this.#pruning = false;
    });
  }

  /** Resolves once no build or prune is inside. */
  async drain(): Promise<void> {
    await this.#until(() => this.#builds === 0 && !this.#pruning, new AbortController().signal);
  }

  #once(leave: () => void): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      leave();
      this.#notify();
    };
  }

  #notify(): void {
    for (const wake of [...this.#changed]) wake();
  }

  async #until(ready: () => boolean, signal: AbortSignal): Promise<void> {
    while (!ready()) {
      signal.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const wake = (): void => {
          this.#changed.delete(wake);
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = (): void => {
          this.#changed.delete(wake);
          reject(signal.reason as Error);
        };
        this.#changed.add(wake);
        signal.addEventListener("abort", onAbort, { once: true });
      });
    }
  }
}
