import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import * as fsm from "./lifecycle.ts";
import { stateJson } from "./container-json.ts";
import { spec, testStore, type TestStore } from "./test-support.ts";
import type { Container } from "./types.ts";

let t: TestStore;
beforeEach(() => {
  t = testStore();
});
afterEach(() => t.close());

function expectHtk(fn: () => unknown, id: string, text?: string): void {
  try {
    fn();
  } catch (err) {
    expect(isHtkError(err), String(err)).toBe(true);
    if (isHtkError(err)) {
      expect(err.id).toBe(id);
      if (text !== undefined) expect(err.plainCause).toBe(text);
    }
    return;
  }
  throw new Error(`expected ${id}`);
}

describe("illegal transitions do not type-check", () => {
  it("rejects them at compile time", () => {
    const created = t.store.containers.create(spec());
    const running = t.store.containers.start(created, { pid: 42 });
    const exited = t.store.containers.exit(running, { exitCode: 0 });
    const now = { nowNs: 1n };
    // Each line below would be a bug in an endpoint; the compiler refuses it.
    // @ts-expect-error an exited container cannot be paused
    expect(() => fsm.pause(exited)).not.toThrow(); // (runtime is not what is tested here)
    // @ts-expect-error a created container cannot be unpaused
    fsm.unpause(created);
    // @ts-expect-error a running container cannot be started
    fsm.start(running, { ...now, pid: 1 });
    // @ts-expect-error an exited container cannot exit again
    fsm.exit(exited, { ...now, exitCode: 1 });
    // @ts-expect-error a running container cannot be destroyed (rm -f stops it first)
    fsm.destroy(running);
    // @ts-expect-error the store's methods carry the same types
    t.store.containers.pause(exited);
    // @ts-expect-error only a restarting container is "restarted"
    fsm.restarted(running, { ...now, pid: 1 });
    // @ts-expect-error health is only probed while the process exists
    fsm.setHealth(exited, { Status: "healthy", FailingStreak: 0, Log: [] });

    // A container of unknown state must be narrowed first.
    const unknown: Container = t.store.containers.resolve(created.id);
    // @ts-expect-error the status is not known to be "running"
    fsm.pause(unknown);
    if (unknown.status === "exited") fsm.start(unknown, { ...now, pid: 1 });
    if (fsm.isIn(unknown, ["created", "exited"])) fsm.start(unknown, { ...now, pid: 1 });
  });
});

describe("the lifecycle, persisted with its events", () => {
  it("runs created → running ⇄ paused → exited → start again → removed", () => {
    const cs = t.store.containers;
    const created = cs.create(spec({ name: "web" }));
    expect(stateJson(created)).toMatchObject({ Status: "created", Running: false, StartedAt: "0001-01-01T00:00:00Z" });
    const running = cs.start(created, { pid: 100 });
    expect(stateJson(running)).toMatchObject({ Status: "running", Running: true, Pid: 100 });
    const paused = cs.pause(running);
    expect(stateJson(paused)).toMatchObject({ Status: "paused", Running: true, Paused: true });
    const resumed = cs.unpause(paused);
    t.store.containers.note(resumed, "kill", { signal: "15" });
    const exited = cs.exit(resumed, { exitCode: 143, manuallyStopped: true });
    t.store.containers.note(exited, "stop");
    expect(stateJson(exited)).toMatchObject({ Status: "exited", Running: false, ExitCode: 143, Pid: 0 });
    expect(exited.state.ManuallyStopped).toBe(true);
    // What is stored is what was returned.
    expect(cs.resolve("web")).toEqual(exited);
    const again = cs.start(exited, { pid: 101 });
    const died = cs.exit(again, { exitCode: 137, oomKilled: true });
    expect(stateJson(died).OOMKilled).toBe(true);
    cs.remove(died);
    expect(cs.find(died.id)).toBeUndefined();

    const actions = t.store.events.query({ filters: { container: [created.id] } }).map((e) => e.event.Action);
    expect(actions).toEqual(["create", "start", "pause", "unpause", "kill", "die", "stop", "start", "oom", "die", "destroy"]);
    const die = t.store.events.query({ filters: { event: ["die"] } })[0]?.event;
    expect(die).toMatchObject({
      Type: "container",
      Action: "die",
      scope: "local",
      status: "die",
      id: created.id,
      from: "busybox:latest",
      Actor: { ID: created.id, Attributes: { exitCode: "143", name: "web", image: "busybox:latest", tier: "web" } },
    });
    expect(typeof die?.time).toBe("number");
    expect(die?.timeNano).toBeGreaterThan((die?.time ?? 0) * 1e9 - 1);
  });

  it("runs the restart path: die, restarting, start (RestartCount counts), cancel", () => {
    const cs = t.store.containers;
    const running = cs.start(cs.create(spec({ config: { Image: "busybox", Healthcheck: { Test: ["CMD", "true"] } } })), { pid: 1 });
    expect(running.state.Health?.Status).toBe("starting");
    const healthy = cs.setHealth(running, { Status: "healthy", FailingStreak: 0, Log: [] });
    cs.setHealth(healthy, { Status: "healthy", FailingStreak: 0, Log: [] });
    const restarting = cs.scheduleRestart(cs.resolve(running.id) as Container<"running">, { exitCode: 1 });
    expect(stateJson(restarting)).toMatchObject({ Status: "restarting", Restarting: true, Running: true, ExitCode: 1 });
    const back = cs.restarted(restarting, { pid: 2 });
    expect(back.restartCount).toBe(1);
    const again = cs.scheduleRestart(back, { exitCode: 1 });
    const stopped = cs.cancelRestart(again);
    expect(stopped.status).toBe("exited");
    const actions = t.store.events.query({ filters: { container: [running.id] } }).map((e) => e.event.Action);
    // health_status is recorded once: Docker emits it on a change only.
    expect(actions).toEqual(["create", "start", "health_status: healthy", "die", "start", "die", "stop"]);
    expect(t.store.events.query({ filters: { event: ["health_status"] } })).toHaveLength(1);
  });

  it("marks a container dead when removal fails, and removes it later", () => {
    const cs = t.store.containers;
    const removing = cs.beginRemoval(cs.create(spec()));
    expect(stateJson(removing).Status).toBe("removing");
    const dead = cs.markDead(removing, { error: "unmount failed" });
    expect(stateJson(dead)).toMatchObject({ Status: "dead", Dead: true, Error: "unmount failed" });
    expectHtk(() => fsm.requireStartable(dead), "HTK-ENGINE-0112", "container is marked for removal and cannot be started.");
    cs.remove(fsm.requireRemovable(dead));
    expect(cs.all()).toEqual([]);
  });

  it("refuses a transition from a stale copy (HTK-ENGINE-0115): two requests cannot both win", () => {
    const cs = t.store.containers;
    const created = cs.create(spec());
    cs.start(created, { pid: 7 });
    expectHtk(() => cs.start(created, { pid: 8 }), "HTK-ENGINE-0115");
    // The failed attempt wrote nothing: one start event only.
    expect(t.store.events.query({ filters: { event: ["start"] } })).toHaveLength(1);
    expect(cs.resolve(created.id)).toMatchObject({ status: "running", state: { Pid: 7 } });
  });

  it("rolls the transition back with its event when the transaction fails", () => {
    const cs = t.store.containers;
    const created = cs.create(spec());
    expect(() =>
      t.store.ctx.tx(() => {
        cs.start(created, { pid: 9 });
        throw new Error("runtime failed after the state was written");
      }),
    ).toThrow(/runtime failed/);
    expect(cs.resolve(created.id).status).toBe("created");
    expect(t.store.events.query({ filters: { event: ["start"] } })).toEqual([]);
  });
});

describe("guards give Docker's errors for the actual state", () => {
  function inStates(): Record<"created" | "running" | "paused" | "exited" | "restarting" | "removing", Container> {
    const cs = t.store.containers;
    const created = cs.create(spec());
    const running = cs.start(cs.create(spec()), { pid: 1 });
    const paused = cs.pause(cs.start(cs.create(spec()), { pid: 2 }));
    const exited = cs.exit(cs.start(cs.create(spec()), { pid: 3 }), { exitCode: 0 });
    const restarting = cs.scheduleRestart(cs.start(cs.create(spec()), { pid: 4 }), { exitCode: 1 });
    const removing = cs.beginRemoval(cs.create(spec()));
    return { created, running, paused, exited, restarting, removing };
  }

  it("start, stop and kill", () => {
    const s = inStates();
    expect(fsm.requireStartable(s.created)).toBe(s.created);
    expect(fsm.requireStartable(s.exited)).toBe(s.exited);
    expect(fsm.requireStartable(s.running)).toBeNull(); // 304
    expectHtk(() => fsm.requireStartable(s.paused), "HTK-ENGINE-0111", "cannot start a paused container, try unpause instead.");
    expectHtk(() => fsm.requireStartable(s.removing), "HTK-ENGINE-0112");
    expect(fsm.requireStoppable(s.exited)).toBeNull(); // 304
    expect(fsm.requireStoppable(s.restarting)).toBe(s.restarting);
    expectHtk(() => fsm.requireKillable(s.created), "HTK-ENGINE-0107", `Container ${s.created.id} is not running.`);
    expect(fsm.requireKillable(s.paused)).toBe(s.paused);
  });

  it("pause, unpause and exec", () => {
    const s = inStates();
    expect(fsm.requirePausable(s.running)).toBe(s.running);
    expectHtk(() => fsm.requirePausable(s.paused), "HTK-ENGINE-0108", `Container ${s.paused.id} is already paused.`);
    expectHtk(
      () => fsm.requirePausable(s.restarting),
      "HTK-ENGINE-0110",
      `Container ${s.restarting.id} is restarting, wait until the container is running.`,
    );
    expectHtk(() => fsm.requirePausable(s.exited), "HTK-ENGINE-0107");
    expect(fsm.requireUnpausable(s.paused)).toBe(s.paused);
    expectHtk(() => fsm.requireUnpausable(s.running), "HTK-ENGINE-0109", `Container ${s.running.id} is not paused.`);
    expect(fsm.requireExecutable(s.running)).toBe(s.running);
    expectHtk(() => fsm.requireExecutable(s.paused), "HTK-ENGINE-0127", `Container ${s.paused.id} is paused, unpause the container before exec.`);
    expectHtk(() => fsm.requireExecutable(s.restarting), "HTK-ENGINE-0110");
    expectHtk(() => fsm.requireExecutable(s.exited), "HTK-ENGINE-0107");
  });

  it("remove", () => {
    const s = inStates();
    expect(fsm.requireRemovable(s.exited)).toBe(s.exited);
    expectHtk(
      () => fsm.requireRemovable(s.running),
      "HTK-ENGINE-0113",
      `cannot remove container "${s.running.name}": container is running: stop the container before removing or force remove.`,
    );
    expectHtk(
      () => fsm.requireRemovable(s.paused),
      "HTK-ENGINE-0113",
      `cannot remove container "${s.paused.name}": container is paused: unpause and then stop the container before removing or force remove.`,
    );
    expectHtk(() => fsm.requireRemovable(s.removing), "HTK-ENGINE-0114", `removal of container ${s.removing.name} is already in progress.`);
  });
});
