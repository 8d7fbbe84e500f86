import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { killContainerProcesses, startEngineChild } from "../e2e/harness.ts";
import { afterAll, describe, expect, inject, it } from "vitest";
import { run, tempDir, type RunResult } from "../../testing/index.ts";



async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

describe("start-up reconciliation after kill -9 of the engine", () => {
  const busybox = inject("busybox").reference;
  const children: ChildProcess[] = [];
  const containerIds: string[] = [];
  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      c.kill("SIGTERM");
      await new Promise((r) => c.once("exit", r));
    }
    // Containers outlive a killed engine by design (the shim): if the test failed between the kill
    // and the restart, nobody stopped them, and the temporary data root is gone by now.
    killContainerProcesses(containerIds);
  });

  it("re-attaches live containers, records the real exit of those that ended, removes --rm ones, applies restart policies", async () => {
    const root = await tempDir("restore");
    const dataRoot = join(root, "data");
    const socket = join(root, "docker.sock");
    const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, "docker-config") };
    const docker = (args: string[]): Promise<RunResult> => run("docker", args, { env, timeoutMs: 60_000 });

    const first = await startEngineChild(dataRoot, socket);
    children.push(first);
    expect((await docker(["pull", "-q", busybox])).code).toBe(0);
    const live = (await docker(["run", "-d", "--name", "live", busybox, "sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done"])).stdout.trim();
    const dying = (await docker(["run", "-d", "-i", "--name", "dying", busybox, "sh", "-c", "read x; exit 3"])).stdout.trim();
    const rmme = (await docker(["run", "-d", "--rm", "--name", "rmme", "-i", busybox, "sh", "-c", "read x; exit 0"])).stdout.trim();
    const always = (await docker(["run", "-d", "--restart", "always", "--name", "always", busybox, "sleep", "1000"])).stdout.trim();
    expect((await docker(["stop", "-t", "0", "always"])).code).toBe(0);
    containerIds.push(live, dying, rmme, always);
    for (const id of [live, dying, rmme, always]) expect(id).toMatch(/^[0-9a-f]{64}$/);
    await until("live has ticked", async () => (await docker(["logs", "live"])).stdout.includes("tick 2"));

    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    // The engine is gone; its stdin FIFOs went with it: `dying` and `rmme` read end-of-file and end.
    const bundles = join(dataRoot, "runtime", "bundles");
    await until("the orphaned containers ended", async () => existsSync(join(bundles, dying, "exit")) && existsSync(join(bundles, rmme, "exit")));
    expect(existsSync(join(bundles, live, "exit"))).toBe(false);

    const second = await startEngineChild(dataRoot, socket);
    children.push(second);
    const state = async (name: string): Promise<string> => (await docker(["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name])).stdout.trim();
    expect(await state("live")).toBe("running 0");
    expect(await state("dying")).toBe("exited 3");
    const gone = await docker(["inspect", "rmme"]);
    expect(gone.code).toBe(1);
    await until("always was restarted", async () => (await state("always")) === "running 0");
    // The re-attached container's output keeps reaching its log.
    const before = (await docker(["logs", "live"])).stdout.split("\n").length;
    await until("live keeps logging after the restart", async () => (await docker(["logs", "live"])).stdout.split("\n").length > before + 3);
    const events = await docker(["events", "--since", "0", "--until", String(Math.ceil(Date.now() / 1000)), "--filter", "container=dying", "--filter", "event=die", "--format", "{{.Actor.Attributes.exitCode}}"]);
    expect(events.stdout.trim()).toBe("3");
    // It is a live handle again: kill and wait work on it.
    const waiting = docker(["wait", "live"]);
    expect((await docker(["kill", "live"])).code).toBe(0);
    expect((await waiting).stdout.trim()).toBe("137");
    expect((await docker(["rm", "-f", "live", "dying", "always"])).code).toBe(0);
    expect((await docker(["ps", "-aq"])).stdout).toBe("");
  });
});
