import { htkError } from "../../base/errors/index.ts";
import { rfc3339Nano } from "./clock.ts";
import type { Container, ContainerIn, ContainerStatus, EventDraft, Health, RuntimeState } from "./types.ts";

/**
 * The container lifecycle as a finite-state machine (Docker's states):
 *
 *     create ─► created ──start──► running ◄──unpause── paused
 *                  ▲                 │  └────pause────►   │
 *                  │      exited ◄───┴─ exit ─────────────┘
 *                  │        │ ▲            │ scheduleRestart
 *                  │  start │ └─cancel── restarting ◄─┘ ──restarted──► running
 *       created/exited/dead ─beginRemoval─► removing ─markDead─► dead
 *       created/exited/dead/removing ─destroy─► (row deleted, "destroy")
 *
 * Each transition is a function typed by the states it accepts, so `pause(exited)` does not compile.
 * The functions here are pure: they return the next container and the events Docker emits for the
 * step; `ContainerStore` persists both in one transaction. Code holding a container of unknown state
 * narrows it with the `require*` guards, which throw Docker's error for the actual state.
 */

/** The result of a transition: the container in its new state and the events to record with it. */
export interface Step<S extends ContainerStatus> {
  readonly container: Container<S>;
  readonly events: readonly EventDraft[];
}

/** Context every transition needs: the time it happens. */
export interface At {
  /** Nanoseconds since the epoch. */
  readonly nowNs: bigint;
}

export function start(c: Container<"created" | "exited">, p: At & { readonly pid: number }): Step<"running"> {
  const health = c.state.Health === undefined && !hasHealthcheck(c) ? undefined : startingHealth();
  const state: RuntimeState = {
    ...withoutHealth(c.state),
    Pid: p.pid,
    ExitCode: 0,
    Error: "",
    OOMKilled: false,
    StartedAt: rfc3339Nano(p.nowNs),
    ManuallyStopped: false,
    ...(health === undefined ? {} : { Health: health }),
  };
  const next = move(c, "running", state);
  return { container: next, events: [containerEvent(next, "start")] };
}

export function pause(c: Container<"running">): Step<"paused"> {
  const next = move(c, "paused", c.state);
  return { container: next, events: [containerEvent(next, "pause")] };
}

export function unpause(c: Container<"paused">): Step<"running"> {
  const next = move(c, "running", c.state);
  return { container: next, events: [containerEvent(next, "unpause")] };
}

export interface ExitParams extends At {
  readonly exitCode: number;
  readonly oomKilled?: boolean;
  readonly error?: string;
  /** Stopped by `docker stop`/`kill` (restart policies other than `always` then leave it stopped). */
  readonly manuallyStopped?: boolean;
}

/** The process ended (or was killed): `oom` first if it was, then `die` with exitCode, as Docker emits them. */
export function exit(c: Container<"running" | "paused">, p: ExitParams): Step<"exited"> {
  const next = move(c, "exited", ended(c, p));
  return { container: next, events: dieEvents(next, c, p) };
}

/** The process ended and the restart policy restarts it: Docker emits `die`, then `start` when it runs again. */
export function scheduleRestart(c: Container<"running" | "paused">, p: ExitParams): Step<"restarting"> {
  const next = move(c, "restarting", ended(c, p));
  return { container: next, events: dieEvents(next, c, p) };
}

/** The restart ran: Docker counts it in RestartCount. */
export function restarted(c: Container<"restarting">, p: At & { readonly pid: number }): Step<"running"> {
  const health = hasHealthcheck(c) ? startingHealth() : undefined;
  const state: RuntimeState = {
    ...withoutHealth(c.state),
    Pid: p.pid,
    Error: "",
    OOMKilled: false,
    StartedAt: rfc3339Nano(p.nowNs),
    ...(health === undefined ? {} : { Health: health }),
  };
  const next = { ...move(c, "running", state), restartCount: c.restartCount + 1 };
  return { container: next, events: [containerEvent(next, "start")] };
}

/** `docker stop` during the restart back-off: it stays exited (Docker emits `stop`). */
export function cancelRestart(c: Container<"restarting">, _p: At): Step<"exited"> {
  const next = move(c, "exited", { ...c.state, ManuallyStopped: true });
  return { container: next, events: [containerEvent(next, "stop")] };
}

/**
 * `docker start` failed before the process ran (command not found, a bad mount …): the container keeps
 * its state, with the error and Docker's exit code for it (127 not found, 126 not executable, else
 * 128). No event, as in Docker.
 */
export function startFailed<S extends "created" | "exited">(c: Container<S>, p: { readonly exitCode: number; readonly error: string }): Step<S> {
  const next = { ...c, state: { ...c.state, ExitCode: p.exitCode, Error: p.error, Pid: 0 } } as Container<S>;
  return { container: next, events: [] };
}

/** A restart policy's restart could not start the process: it ends exited with the error (no event). */
export function restartFailed(c: Container<"restarting">, p: At & { readonly exitCode: number; readonly error: string }): Step<"exited"> {
  const next = move(c, "exited", { ...c.state, ExitCode: p.exitCode, Error: p.error, Pid: 0, FinishedAt: rfc3339Nano(p.nowNs) });
  return { container: next, events: [] };
}

/** Removal started (unmounting, deleting the rootfs). Docker emits no event until `destroy`. */
export function beginRemoval(c: Container<"created" | "exited" | "dead">): Step<"removing"> {
  return { container: move(c, "removing", c.state), events: [] };
}

/** Removal failed half way; Docker marks the container dead (it can only be removed again). No event, as in Docker. */
export function markDead(c: Container<"removing" | "created" | "exited">, p: { readonly error: string }): Step<"dead"> {
  return { container: move(c, "dead", { ...c.state, Error: p.error }), events: [] };
}

/** The container is gone: `destroy`. The store deletes the row. */
export function destroy(c: Container<"created" | "exited" | "dead" | "removing">): { readonly events: readonly EventDraft[] } {
  return { events: [containerEvent(c, "destroy")] };
}

/** A health probe changed the status: `health_status: healthy` (Docker emits it only on a change). */
export function setHealth<S extends "running" | "paused" | "restarting">(c: Container<S>, health: Health): Step<S> {
  const next = { ...c, state: { ...c.state, Health: health }, version: c.version } as Container<S>;
  const changed = c.state.Health?.Status !== health.Status;
  return { container: next, events: changed ? [containerEvent(next, `health_status: ${health.Status}`)] : [] };
}

/** Any state: the name changes, `rename` carries the old name (with its slash, as Docker sends it). */
export function rename<S extends ContainerStatus>(c: Container<S>, newName: string): Step<S> {
  const next = { ...c, name: newName } as Container<S>;
  return { container: next, events: [containerEvent(next, "rename", { oldName: c.name })] };
}

// ---------------------------------------------------------------------------------------------------
// Guards: from a container of unknown state to the states an action accepts, or Docker's error.

/** `start`: null means already running, which Docker answers with 304 Not Modified. */
export function requireStartable(c: Container): Container<"created" | "exited"> | null {
  switch (c.status) {
    case "created":
    case "exited":
      return c;
    case "running":
    case "restarting":
      return null;
    case "paused":
      throw htkError("HTK-ENGINE-0111", { id: c.id });
    case "removing":
    case "dead":
      throw htkError("HTK-ENGINE-0112", { id: c.id });
    default:
      return assertNever(c);
  }
}

/** `stop`: null means not running, which Docker answers with 304 Not Modified. */
export function requireStoppable(c: Container): Container<"running" | "paused" | "restarting"> | null {
  switch (c.status) {
    case "running":
    case "paused":
    case "restarting":
      return c;
    case "created":
    case "exited":
    case "removing":
    case "dead":
      return null;
    default:
      return assertNever(c);
  }
}

/** `kill`: Docker's "is not running" (409) otherwise; a restarting container counts as running. */
export function requireKillable(c: Container): Container<"running" | "paused" | "restarting"> {
  const ok = requireStoppable(c);
  if (ok === null) throw htkError("HTK-ENGINE-0107", { id: c.id });
  return ok;
}

export function requirePausable(c: Container): Container<"running"> {
  switch (c.status) {
    case "running":
      return c;
    case "paused":
      throw htkError("HTK-ENGINE-0108", { id: c.id });
    case "restarting":
      throw htkError("HTK-ENGINE-0110", { id: c.id });
    case "created":
    case "exited":
    case "removing":
    case "dead":
      throw htkError("HTK-ENGINE-0107", { id: c.id });
    default:
      return assertNever(c);
  }
}

export function requireUnpausable(c: Container): Container<"paused"> {
  if (c.status === "paused") return c;
  throw htkError("HTK-ENGINE-0109", { id: c.id });
}

/** `exec`: Docker refuses paused and restarting containers with their own texts. */
export function requireExecutable(c: Container): Container<"running"> {
  switch (c.status) {
    case "running":
      return c;
    case "paused":
      throw htkError("HTK-ENGINE-0127", { id: c.id });
    case "restarting":
      throw htkError("HTK-ENGINE-0110", { id: c.id });
    case "created":
    case "exited":
    case "removing":
    case "dead":
      throw htkError("HTK-ENGINE-0107", { id: c.id });
    default:
      return assertNever(c);
  }
}

/** `rm` without force. A running one needs stopping first (`rm -f` does that, then calls this). */
export function requireRemovable(c: Container): Container<"created" | "exited" | "dead"> {
  switch (c.status) {
    case "created":
    case "exited":
    case "dead":
      return c;
    case "running":
    case "restarting":
      throw htkError("HTK-ENGINE-0113", {
        name: c.name,
        id: c.id,
        state: c.status,
        procedure: "stop the container before removing or force remove",
      });
    case "paused":
      throw htkError("HTK-ENGINE-0113", {
        name: c.name,
        id: c.id,
        state: c.status,
        procedure: "unpause and then stop the container before removing or force remove",
      });
    case "removing":
      throw htkError("HTK-ENGINE-0114", { name: c.name });
    default:
      return assertNever(c);
  }
}

/** Narrows to one of the given states, or undefined. */
export function isIn<const S extends ContainerStatus>(c: Container, states: readonly S[]): c is Container<S> {
  return (states as readonly ContainerStatus[]).includes(c.status);
}

// ---------------------------------------------------------------------------------------------------

/** Docker's container event attributes: the labels, then `image` and `name` (without the slash). */
export function containerEvent(c: Container, action: string, extra: Readonly<Record<string, string>> = {}): EventDraft {
  return {
    Type: "container",
    Action: action,
    Actor: { ID: c.id, Attributes: { ...(c.config.Labels ?? {}), image: c.image, name: c.name.replace(/^\//, ""), ...extra } },
  };
}

function move<S extends ContainerStatus>(c: Container, status: S, state: RuntimeState): Container<S> {
  return { ...(c as ContainerIn<ContainerStatus>), status, state } as Container<S>;
}

function ended(c: Container<"running" | "paused">, p: ExitParams): RuntimeState {
  const { Health: health, ...rest } = c.state;
  return {
    ...rest,
    Pid: 0,
    ExitCode: p.exitCode,
    OOMKilled: p.oomKilled ?? false,
    Error: p.error ?? "",
    FinishedAt: rfc3339Nano(p.nowNs),
    ManuallyStopped: p.manuallyStopped ?? c.state.ManuallyStopped,
    // The last probe results stay visible in inspect; `start` resets Health to "starting".
    ...(health === undefined ? {} : { Health: health }),
  };
}

function dieEvents(next: Container, prev: Container<"running" | "paused">, p: ExitParams): EventDraft[] {
  const out: EventDraft[] = [];
  if (p.oomKilled === true) out.push(containerEvent(next, "oom"));
  const startedNs = Date.parse(prev.state.StartedAt);
  // Docker adds execDuration (whole seconds the process ran) to `die`.
  const duration = Number.isNaN(startedNs) ? 0 : Math.max(0, Math.floor((Number(p.nowNs / 1_000_000n) - startedNs) / 1000));
  out.push(containerEvent(next, "die", { exitCode: String(p.exitCode), execDuration: String(duration) }));
  return out;
}

function hasHealthcheck(c: Container): boolean {
  const test = c.config.Healthcheck?.Test;
  return test !== undefined && test.length > 0 && test[0] !== "NONE";
}

function startingHealth(): Health {
  return { Status: "starting", FailingStreak: 0, Log: [] };
}

function withoutHealth(state: RuntimeState): RuntimeState {
  const { Health: _health, ...rest } = state;
  return rest;
}

function assertNever(x: never): never {
  throw new Error(`unexpected container state: ${JSON.stringify(x)}`);
}
