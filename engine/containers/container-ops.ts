import type { Logger } from "../../base/observability/index.ts";
import type { CrunRuntime } from "../runtime/index.ts";
import type { StateStore } from "../state/index.ts";
import { ExecManager } from "./exec.ts";
import type { ContainerManager } from "./manager.ts";

/**
 * The container operations that build on the lifecycle core (`ContainerManager`), owned for the
 * daemon's life: exec instances (and, through them, health probes). Opened after the manager's
 * start-up reconciliation; `close()` ends what they run.
 */
export class ContainerOps {
  readonly execs: ExecManager;

  constructor(deps: { readonly state: StateStore; readonly runtime: CrunRuntime; readonly containers: ContainerManager; readonly log: Logger }) {
    this.execs = new ExecManager(deps);
  }

  async close(): Promise<void> {
    // Exec processes end with their containers, which the manager's shutdown stops.
  }
}
