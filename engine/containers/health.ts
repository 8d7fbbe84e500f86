import { isHtkError } from "../../base/errors/index.ts";
import { formatGoDuration } from "../../base/go-duration.ts";
import type { Logger } from "../../base/observability/index.ts";
import { isIn, type Container, type EventSubscription, type Health, type HealthLogEntry, type StateStore } from "../state/index.ts";
import { goTimeJson } from "./container-fs.ts";
import type { ExecManager, ProbeResult } from "./exec.ts";

/**
 * Healthchecks (Docker's daemon/health.go): while a container with a `Config.Healthcheck` runs (not
 * paused), its probe runs by exec on schedule — the first after one interval, `StartInterval` apart
 * while the status is still "starting" within `StartPeriod`, `Interval` apart otherwise —, each
 * result goes to `State.Health` (the last five in `Log`, `FailingStreak`, "healthy" on a success,
 * "unhealthy" after `Retries` failures in a row, failures in the start period not counted while
 * "starting"), and `health_status: <status>` is recorded only when the status changes.
 *
 * The monitor follows the containers' lifecycle events (`start` — also a restart —, `unpause`:
 * monitor on; `die`, `pause`, `destroy`: off), so nothing in the lifecycle core has to call it;
 * timers stop with the container and with the daemon (`close`).
 */

const NS = 1_000_000;
const DEFAULT_INTERVAL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_START_INTERVAL_MS = 5_000;
const DEFAULT_RETRIES = 3;
const MAX_LOG_ENTRIES = 5;

/** The probe command of a Healthcheck.Test: undefined for none (absent, empty, NONE or unknown). */
export function probeCommand(test: readonly string[] | undefined, shell: readonly string[] | undefined): string[] | undefined {
  if (test === undefined || test.length === 0) return undefined;
  switch (test[0]) {
    case "CMD":
      return test.length > 1 ? test.slice(1) : undefined;
    case "CMD-SHELL":
      return [...(shell !== undefined && shell.length > 0 ? shell : ["/bin/sh", "-c"]), ...test.slice(1)];
    default:
      return undefined;
  }
}

export interface HealthSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly startPeriodMs: number;
  readonly startIntervalMs: number;
  readonly retries: number;
}

/** Config.Healthcheck's durations (nanoseconds in the API) with Docker's defaults for zero. */
export function healthSettings(h: Readonly<Record<string, unknown>> | undefined): HealthSettings {
  const ns = (k: string): number => (typeof h?.[k] === "number" ? (h[k] as number) : 0);
  const ms = (k: string, fallback: number): number => (ns(k) === 0 ? fallback : ns(k) / NS);
  const retries = ns("Retries");
  return {
    intervalMs: ms("Interval", DEFAULT_INTERVAL_MS),
    timeoutMs: ms("Timeout", DEFAULT_TIMEOUT_MS),
    startPeriodMs: ms("StartPeriod", 0),
    startIntervalMs: ms("StartInterval", DEFAULT_START_INTERVAL_MS),
    retries: retries <= 0 ? DEFAULT_RETRIES : retries,
  };
}

/** One probe's outcome as Docker records it (HealthcheckResult). */
export function probeLogEntry(result: ProbeResult, startNs: bigint, endNs: bigint, timeoutMs: number): HealthLogEntry {
  const at = { Start: goTimeJson(startNs), End: goTimeJson(endNs) };
  switch (result.kind) {
    case "exited":
      return { ...at, ExitCode: result.exitCode, Output: result.output };
    case "timeout": {
      const timeout = formatGoDuration(Math.round(timeoutMs * NS));
      return { ...at, ExitCode: -1, Output: result.output === "" ? `Health check exceeded timeout (${timeout})` : `Health check exceeded timeout (${timeout}): ${result.output}` };
    }
    case "error":
      return { ...at, ExitCode: -1, Output: result.message };
    default: {
      const never: never = result;
      throw new Error(`unknown probe result ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Docker's handleProbeResult: the next Health after one result. `sinceStartMs` is how long after the
 * container's start the probe began (failures inside the start period do not count while "starting").
 */
export function nextHealth(current: Health, entry: HealthLogEntry, settings: HealthSettings, sinceStartMs: number): Health {
  const log = [...current.Log, entry].slice(-MAX_LOG_ENTRIES);
  if (entry.ExitCode === 0) return { Status: "healthy", FailingStreak: 0, Log: log };
  const inStartPeriod = current.Status === "starting" && sinceStartMs < settings.startPeriodMs;
  if (inStartPeriod) return { Status: current.Status, FailingStreak: current.FailingStreak, Log: log };
  const streak = current.FailingStreak + 1;
  return { Status: streak >= settings.retries ? "unhealthy" : current.Status, FailingStreak: streak, Log: log };
}

interface Monitor {
  timer: NodeJS.Timeout | undefined;
  readonly probe: AbortController;
  stopped: boolean;
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

export class HealthMonitor {
  readonly #state: StateStore;
  readonly #execs: ExecManager;
  readonly #log: Logger;
  readonly #monitors = new Map<string, Monitor>();
  #subscription: EventSubscription | undefined;
  #closed = false;

  constructor(deps: { readonly state: StateStore; readonly execs: ExecManager; readonly log: Logger }) {
    this.#state = deps.state;
    this.#execs = deps.execs;
    this.#log = deps.log.child({ component: "health" });
  }

  /** Starts following the lifecycle, and monitors the containers that run now (Docker resets them to "starting"). */
  start(): void {
    this.#follow();
    this.#resync(true);
  }

  /** Stops every monitor and probe (the daemon is stopping). */
  close(): void {
    this.#closed = true;
    this.#subscription?.dispose();
    for (const id of [...this.#monitors.keys()]) this.#stop(id);
  }

  /** The containers being monitored (for tests and metrics). */
  get monitored(): readonly string[] {
    return [...this.#monitors.keys()];
  }

  #follow(): void {
    const sub = this.#state.events.subscribe({ filters: { type: ["container"], event: ["start", "die", "pause", "unpause", "destroy"] }, bufferSize: 4096 });
    this.#subscription = sub;
    void (async () => {
      for (;;) {
        const e = await sub.next();
        if (e === undefined) return;
        this.#onEvent(e.Action, e.Actor.ID);
      }
    })().catch((err: unknown) => {
      if (this.#closed) return;
      // Dropped (too far behind) or broken: follow again and look at every container once.
      this.#log.warn({ err: isHtkError(err) ? err.toJSON() : err }, "health monitor lost the event stream; resynchronising");
      this.#follow();
      this.#resync(false);
    });
  }

  #onEvent(action: string, id: string): void {
    if (this.#closed) return;
    switch (action) {
      case "start":
      case "unpause": {
        const c = this.#state.containers.get(id);
        if (c !== undefined && c.status === "running") this.#begin(c);
        break;
      }
      case "die":
      case "pause":
      case "destroy":
        this.#stop(id);
        break;
      default:
        break;
    }
  }

  /** Monitors every running container with a healthcheck (at daemon start: from "starting"). */
  #resync(reset: boolean): void {
    for (const c of this.#state.containers.all()) {
      if (c.status !== "running") {
        this.#stop(c.id);
        continue;
      }
      if (this.#monitors.has(c.id)) continue;
      if (reset && this.#command(c) !== undefined) {
        const h = c.state.Health;
        try {
          this.#state.containers.setHealth(c, { Status: "starting", FailingStreak: 0, Log: h?.Log ?? [] });
        } catch (err) {
          this.#log.debug({ id: c.id, err }, "resetting a health status");
        }
      }
      const now = this.#state.containers.get(c.id);
      if (now !== undefined && now.status === "running") this.#begin(now);
    }
  }

  #command(c: Container): string[] | undefined {
    const h = c.config.Healthcheck;
    const shell = Array.isArray(c.config["Shell"]) ? (c.config["Shell"] as string[]) : undefined;
    return probeCommand(h?.Test, shell);
  }

  #begin(c: Container<"running">): void {
    this.#stop(c.id);
    const cmd = this.#command(c);
    if (cmd === undefined) return;
    const settings = healthSettings(c.config.Healthcheck);
    const started = Date.parse(c.state.StartedAt);
    const startedMs = Number.isNaN(started) ? Date.now() : started;
    const monitor: Monitor = { timer: undefined, probe: new AbortController(), stopped: false };
    this.#monitors.set(c.id, monitor);
    const interval = (): number => {
      if (Date.now() - startedMs >= settings.startPeriodMs) return settings.intervalMs;
      const status = this.#state.containers.get(c.id)?.state.Health?.Status;
      return status === "starting" ? settings.startIntervalMs : settings.intervalMs;
    };
    const schedule = (): void => {
      if (monitor.stopped) return;
      monitor.timer = setTimeout(() => {
        monitor.timer = undefined;
        void this.#probeOnce(c.id, cmd, settings, startedMs, monitor).then(schedule, (err: unknown) => {
          this.#log.warn({ id: c.id, err }, "health probe failed unexpectedly");
          schedule();
        });
      }, interval());
      monitor.timer.unref();
    };
    schedule();
  }

  async #probeOnce(id: string, cmd: readonly string[], settings: HealthSettings, startedMs: number, monitor: Monitor): Promise<void> {
    const startNs = nowNs();
    let result: ProbeResult;
    try {
      result = await this.#execs.probe(id, cmd, settings.timeoutMs, monitor.probe.signal);
    } catch (err) {
      result = { kind: "error", message: isHtkError(err) ? err.plainCause : err instanceof Error ? err.message : String(err) };
    }
    // Stopped meanwhile (the container ended, was paused, the daemon stops): the result is dropped, as Docker's.
    if (monitor.stopped) return;
    const entry = probeLogEntry(result, startNs, nowNs(), settings.timeoutMs);
    const c = this.#state.containers.get(id);
    if (c === undefined || !isIn(c, ["running", "paused", "restarting"])) return;
    const current = c.state.Health ?? { Status: "starting" as const, FailingStreak: 0, Log: [] };
    const next = nextHealth(current, entry, settings, Number(startNs / 1_000_000n) - startedMs);
    try {
      this.#state.containers.setHealth(c, next);
    } catch (err) {
      // Its state moved on meanwhile (a stop, a restart): the next event decides.
      this.#log.debug({ id, err }, "recording a health probe");
    }
  }

  #stop(id: string): void {
    const m = this.#monitors.get(id);
    if (m === undefined) return;
    m.stopped = true;
    if (m.timer !== undefined) clearTimeout(m.timer);
    m.probe.abort();
    this.#monitors.delete(id);
  }
}
