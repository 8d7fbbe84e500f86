import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "./clock.ts";
import { openStateStore, type StateStore, type StateStoreOptions } from "./store.ts";
import type { NewContainer } from "./types.ts";

/** A store on a fresh data root, plus a clock the test moves (1 ms per tick unless set). */
export interface TestStore {
  readonly store: StateStore;
  readonly dataRoot: string;
  /** The next time the clock returns, in nanoseconds. */
  setNow(ns: bigint): void;
  close(): void;
}

/** Temp folders named like the harness's (`htk-test-<pid>-…`) so a crashed run's leftovers are swept. */
export function tempDataRoot(label = "state"): string {
  return mkdtempSync(join(tmpdir(), `htk-test-${process.pid}-${label}-`));
}

export function testStore(options: StateStoreOptions = {}): TestStore {
  const dataRoot = tempDataRoot();
  let now = 1_700_000_000_000_000_000n;
  const clock: Clock = () => (now += 1_000_000n);
  const store = openStateStore(dataRoot, { clock, ...options });
  return {
    store,
    dataRoot,
    setNow(ns) {
      now = ns - 1_000_000n;
    },
    close() {
      store.close();
      rmSync(dataRoot, { recursive: true, force: true });
    },
  };
}

export function spec(overrides: Partial<NewContainer> = {}): NewContainer {
  return {
    image: "busybox:latest",
    imageId: "sha256:aaaa000000000000000000000000000000000000000000000000000000000001",
    path: "sh",
    args: ["-c", "true"],
    config: { Image: "busybox:latest", Cmd: ["sh", "-c", "true"], Labels: { tier: "web" } },
    hostConfig: { NetworkMode: "bridge", RestartPolicy: { Name: "no" } },
    ...overrides,
  };
}
