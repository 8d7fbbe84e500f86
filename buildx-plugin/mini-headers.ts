/**
 * A small WHATWG `Headers` for the plugin process. The Connect client builds Headers for every call
 * and error; Node's own class is a lazy global whose first use loads Node's whole bundled fetch
 * implementation (undici, web streams): about a fifth of the plugin's start-up CPU, for a class the
 * plugin uses as a case-insensitive multimap. main.ts installs this one before anything loads Connect.
 *
 * The parts Connect and Node's http use: construction from a Headers, a record or pairs; append, set,
 * get (values joined with ", "), has, delete, forEach and iteration in sorted name order.
 */
export class MiniHeaders implements Iterable<[string, string]> {
  readonly #map = new Map<string, string[]>();

  constructor(init?: MiniHeaders | Iterable<readonly [string, string]> | Readonly<Record<string, string | readonly string[]>>) {
    if (init === undefined || init === null) return;
    if (init instanceof MiniHeaders || Symbol.iterator in Object(init)) {
      for (const [k, v] of init as Iterable<readonly [string, string]>) this.append(k, v);
      return;
    }
    for (const [k, v] of Object.entries(init as Record<string, string | readonly string[]>)) {
      if (Array.isArray(v)) for (const x of v as readonly string[]) this.append(k, x);
      else this.append(k, v as string);
    }
  }

  append(name: string, value: string): void {
    const k = name.toLowerCase();
    const list = this.#map.get(k);
    if (list === undefined) this.#map.set(k, [String(value).trim()]);
    else list.push(String(value).trim());
  }

  set(name: string, value: string): void {
    this.#map.set(name.toLowerCase(), [String(value).trim()]);
  }

  get(name: string): string | null {
    const list = this.#map.get(name.toLowerCase());
    return list === undefined ? null : list.join(", ");
  }

  has(name: string): boolean {
    return this.#map.has(name.toLowerCase());
  }

  delete(name: string): void {
    this.#map.delete(name.toLowerCase());
  }

  getSetCookie(): string[] {
    return [...(this.#map.get("set-cookie") ?? [])];
  }

  forEach(fn: (value: string, key: string, parent: MiniHeaders) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }

  *entries(): IterableIterator<[string, string]> {
    for (const k of [...this.#map.keys()].sort()) {
      const list = this.#map.get(k) as string[];
      // Set-Cookie is the one header that is never joined.
      if (k === "set-cookie") for (const v of list) yield [k, v];
      else yield [k, list.join(", ")];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): IterableIterator<string> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

/** Puts MiniHeaders in place of the global Headers (before the global's first use). */
export function installMiniHeaders(): void {
  Object.defineProperty(globalThis, "Headers", { value: MiniHeaders, writable: true, configurable: true, enumerable: false });
}
