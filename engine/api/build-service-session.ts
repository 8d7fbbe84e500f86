import { randomBytes } from "node:crypto";

/**
 * What a build asks of its client while it runs (BuildKit's session: registry credentials, SSH agent
 * messages): the request goes out on the Solve stream with a fresh id, the client answers with a unary
 * call naming the build and that id. Answers live in memory only, for the one request that waits.
 */
export class ClientRequests<T> {
  readonly #pending = new Map<string, (value: T | undefined) => void>();

  /** A fresh request id. */
  static id(): string {
    return randomBytes(8).toString("hex");
  }

  /** Waits for the client's answer; `undefined` when `signal` ends the wait first. */
  wait(ref: string, requestId: string, signal: AbortSignal): Promise<T | undefined> {
    const key = `${ref}\0${requestId}`;
    return new Promise((resolve) => {
      const done = (v: T | undefined): void => {
        this.#pending.delete(key);
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      };
      const onAbort = (): void => done(undefined);
      if (signal.aborted) {
        resolve(undefined);
        return;
      }
      signal.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(key, done);
    });
  }

  /** Delivers an answer; false when nobody waits for it (the build ended, or the id is unknown). */
  provide(ref: string, requestId: string, value: T): boolean {
    const resolve = this.#pending.get(`${ref}\0${requestId}`);
    if (resolve === undefined) return false;
    resolve(value);
    return true;
  }
}
