import type { ContainerStore } from "./containers.ts";
import type { StateContext } from "./context.ts";
import type { Container, HostConfig } from "./types.ts";

/**
 * Start-up reconciliation, the state's half: after a crash or `kill -9` of the engine, the database
 * still says what was running. The runtime tells us what is (the `probe`); this brings the records in
 * line with it through the ordinary transitions (so `docker ps -a` and `docker events` tell the truth)
 * and returns what the daemon must do next (re-attach, restart, remove). Cleaning leaked mounts,
 * cgroups and network namespaces is the runtime's half.
 */

/** What the runtime knows about a container's process now. */
export type Liveness =
  | { readonly kind: "alive"; readonly pid: number; readonly paused: boolean }
  /** `exitCode` when the runtime still has it; otherwise Docker's 255 for "unknown". */
  | { readonly kind: "gone"; readonly exitCode?: number };

export type ReconcileAction =
  /** Still running under the runtime: re-attach logs, stats and the exit watcher. */
  | { readonly kind: "reattach"; readonly container: Container<"running" | "paused"> }
  /** Its restart policy starts it again now (Docker restarts these when the daemon starts). */
  | { readonly kind: "restart"; readonly container: Container<"exited" | "restarting"> }
  /** `--rm` container that is no longer running: remove it (and its anonymous volumes). */
  | { readonly kind: "remove"; readonly container: Container<"exited" | "created" | "dead"> };

export type Probe = (c: Container<"running" | "paused" | "restarting">) => Liveness;

/**
 * Reconciles every container, as Docker's daemon.restore does: a process that is gone becomes
 * `exited` (with `die`), a removal that was cut short becomes `dead`, a frozen/thawed mismatch is
 * corrected, exec instances left running are ended. Returns the follow-up actions.
 */
export function reconcile(ctx: StateContext, containers: ContainerStore, probe: Probe): ReconcileAction[] {
  const actions: ReconcileAction[] = [];
  for (const c of containers.all()) {
    switch (c.status) {
      case "running":
      case "paused": {
        const live = probe(c);
        if (live.kind === "alive") {
          let now: Container<"running" | "paused"> = c;
          if (live.paused && now.status === "running") now = containers.pause(now);
          else if (!live.paused && now.status === "paused") now = containers.unpause(now);
          actions.push({ kind: "reattach", container: now });
          break;
        }
        const exited = containers.exit(c, { exitCode: live.exitCode ?? 255 });
        actions.push(...afterExit(exited));
        break;
      }
      case "restarting": {
        // It was waiting out its back-off when the engine died; the restart is still due.
        const live = probe(c);
        if (live.kind === "gone") actions.push({ kind: "restart", container: c });
        // The engine started it again but died before recording that.
        else actions.push({ kind: "reattach", container: containers.restarted(c, { pid: live.pid }) });
        break;
      }
      case "removing":
        // Docker: "we probably crashed in the middle of a removal" → dead, removable again.
        actions.push({ kind: "remove", container: containers.markDead(c, { error: "the engine stopped during removal" }) });
        break;
      case "exited":
        actions.push(...afterExit(c));
        break;
      case "created":
      case "dead":
        if (c.hostConfig.AutoRemove === true && c.status === "dead") actions.push({ kind: "remove", container: c });
        break;
      default: {
        const never: never = c;
        throw new Error(`unexpected container ${String(never)}`);
      }
    }
  }
  // Docker keeps exec instances in memory, so none survive its restart; ours are rows: end them.
  ctx.tx(() => ctx.db.prepare("UPDATE execs SET running = 0, can_remove = 1 WHERE running = 1").run());
  return actions;
}

function afterExit(c: Container<"exited">): ReconcileAction[] {
  if (c.hostConfig.AutoRemove === true) return [{ kind: "remove", container: c }];
  const ran = c.state.StartedAt !== "0001-01-01T00:00:00Z";
  if (ran && shouldRestart(c.hostConfig, c.state.ExitCode, c.state.ManuallyStopped, c.restartCount, { daemonStart: true })) {
    return [{ kind: "restart", container: c }];
  }
  return [];
}

/**
 * Docker's restartmanager.ShouldRestart. `always` restarts even a manually stopped container when the
 * daemon starts (Docker's documented rule), but not after `docker stop` while the daemon runs;
 * `unless-stopped` never after a manual stop; `on-failure[:N]` on a non-zero exit while under N.
 */
export function shouldRestart(
  hostConfig: HostConfig,
  exitCode: number,
  manuallyStopped: boolean,
  restartCount: number,
  opts: { readonly daemonStart?: boolean } = {},
): boolean {
  const policy = hostConfig.RestartPolicy?.Name ?? "no";
  switch (policy) {
    case "always":
      return opts.daemonStart === true || !manuallyStopped;
    case "unless-stopped":
      return !manuallyStopped;
    case "on-failure": {
      if (manuallyStopped) return false;
      const max = hostConfig.RestartPolicy?.MaximumRetryCount ?? 0;
      return exitCode !== 0 && (max === 0 || restartCount < max);
    }
    default:
      return false;
  }
}

/**
 * Docker's restart back-off: 100 ms, doubled on each restart, at most one minute; back to 100 ms once
 * the container has run for 10 s (restartmanager: backoffMultiplier 2, maxRestartTimeout 1 min).
 */
export function restartDelayMs(previousDelayMs: number, ranMs: number): number {
  if (ranMs >= 10_000 || previousDelayMs <= 0) return 100;
  return Math.min(previousDelayMs * 2, 60_000);
}
