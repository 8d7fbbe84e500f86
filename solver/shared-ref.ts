import { htkError } from "../base/errors/index.ts";
import type { SharedRef, WorkerRef } from "./types.ts";

/**
 * Reference counting over one worker ref (BuildKit's `sharedResult` / `splitResult`). The worker ref
 * is released when the last clone is; a clone released twice is a bug in the solver and is reported
 * as HTK-SOLVER-0005 rather than silently under-counting, which would free a snapshot still in use.
 */
export function shareRef(ref: WorkerRef): SharedRef {
  const state = { count: 0, ref };
  return makeClone(state);
}

interface Shared {
  count: number;
  readonly ref: WorkerRef;
}

function makeClone(state: Shared): SharedRef {
  state.count++;
  let released = false;
  const clone: SharedRef = {
    id: state.ref.id,
    get released() {
      return released;
    },
    get ref() {
      return state.ref;
    },
    clone: () => {
      if (released) throw htkError("HTK-SOLVER-0005", { ref: state.ref.id, operation: "clone" });
      return makeClone(state);
    },
    release: async () => {
      if (released) throw htkError("HTK-SOLVER-0005", { ref: state.ref.id, operation: "release" });
      released = true;
      state.count--;
      if (state.count === 0) await state.ref.release();
    },
  };
  return clone;
}

/** Releases every ref, even when some releases fail; rethrows the first failure afterwards. */
export async function releaseAll(refs: Iterable<SharedRef | undefined>): Promise<void> {
  let first: unknown;
  for (const r of refs) {
    if (r === undefined || r.released) continue;
    try {
      await r.release();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
