import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { reconcile, restartDelayMs, shouldRestart } from "./reconcile.ts";
import { spec, testStore, type TestStore } from "./test-support.ts";
import type { HostConfig } from "./types.ts";

let t: TestStore;
beforeEach(() => {
  t = testStore();
});
afterEach(() => t.close());

describe("start-up reconciliation", () => {
  it("brings records in line with the runtime and says what to do next", () => {
    const cs = t.store.containers;
    const run = (name: string, hostConfig: HostConfig = {}) => cs.start(cs.create(spec({ name, hostConfig })), { pid: 1 });
    const alive = run("alive");
    const frozen = run("frozen");
    const gone = run("gone");
    const goneAlways = run("gone-always", { RestartPolicy: { Name: "always" } });
    const goneRm = run("gone-rm", { AutoRemove: true });
    const stoppedUnless = cs.exit(run("stopped-unless", { RestartPolicy: { Name: "unless-stopped" } }), { exitCode: 0, manuallyStopped: true });
    const backingOff = cs.scheduleRestart(run("backing-off", { RestartPolicy: { Name: "always" } }), { exitCode: 1 });
    const removing = cs.beginRemoval(cs.create(spec({ name: "removing" })));
    const exec = t.store.execs.create(alive, { Cmd: ["sh"] });
    t.store.execs.started(exec, alive, 9);

    const actions = reconcile(t.store.ctx, cs, (c) => {
      if (c.id === alive.id) return { kind: "alive", pid: 1, paused: false };
      if (c.id === frozen.id) return { kind: "alive", pid: 1, paused: true };
      return c.id === gone.id ? { kind: "gone", exitCode: 137 } : { kind: "gone" };
    });
    const summary = actions.map((a) => `${a.kind} ${a.container.name} ${a.container.status}`).sort();
    expect(summary).toEqual([
      "reattach /alive running",
      "reattach /frozen paused",
      "remove /gone-rm exited",
      "remove /removing dead",
      "restart /backing-off restarting",
      "restart /gone-always exited",
    ]);
    expect(backingOff.status).toBe("restarting");
    expect(cs.resolve("gone").state.ExitCode).toBe(137);
    expect(cs.resolve("gone-always").state.ExitCode).toBe(255);
    expect(cs.resolve(stoppedUnless.id).status).toBe("exited");
    expect(cs.resolve(removing.id).status).toBe("dead");
    expect(t.store.execs.get(exec.id).running).toBe(false);
    // The truth is in the event log too: one die per container that was found gone.
    const died = t.store.events.query({ filters: { event: ["die"] } }).map((e) => e.event.Actor.Attributes["name"]);
    expect(died.sort()).toEqual(["backing-off", "gone", "gone-always", "gone-rm", "stopped-unless"]);
    expect(goneAlways.hostConfig.RestartPolicy?.Name).toBe("always");
    expect(goneRm.hostConfig.AutoRemove).toBe(true);
  });

  it("applies Docker's restart policies and back-off", () => {
    expect(shouldRestart({}, 1, false, 0)).toBe(false);
    expect(shouldRestart({ RestartPolicy: { Name: "always" } }, 0, false, 0)).toBe(true);
    expect(shouldRestart({ RestartPolicy: { Name: "always" } }, 0, true, 0)).toBe(false);
    expect(shouldRestart({ RestartPolicy: { Name: "always" } }, 0, true, 0, { daemonStart: true })).toBe(true);
    expect(shouldRestart({ RestartPolicy: { Name: "unless-stopped" } }, 0, true, 0, { daemonStart: true })).toBe(false);
    expect(shouldRestart({ RestartPolicy: { Name: "on-failure", MaximumRetryCount: 2 } }, 1, false, 1)).toBe(true);
    expect(shouldRestart({ RestartPolicy: { Name: "on-failure", MaximumRetryCount: 2 } }, 1, false, 2)).toBe(false);
    expect(shouldRestart({ RestartPolicy: { Name: "on-failure" } }, 0, false, 0)).toBe(false);
    expect(restartDelayMs(0, 0)).toBe(100);
    expect(restartDelayMs(100, 500)).toBe(200);
    expect(restartDelayMs(40_000, 500)).toBe(60_000);
    expect(restartDelayMs(60_000, 500)).toBe(60_000);
    expect(restartDelayMs(60_000, 10_000)).toBe(100);
  });
});
