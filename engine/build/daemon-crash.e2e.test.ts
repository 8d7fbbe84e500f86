import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixtures, run, runChecked, tempDir } from "../../testing/index.ts";
import { startEngineChild } from "../e2e/harness.ts";
import { datapathNames } from "../networks/index.ts";

/** Mount points under `dir` (the engine child shares our mount namespace). */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p.startsWith(dir));
}

async function crunContainers(dataRoot: string): Promise<{ id: string; status: string }[]> {
  const state = join(dataRoot, "runtime", "state");
  if (!existsSync(state)) return [];
  return JSON.parse((await runChecked("crun", ["--root", state, "list", "--format", "json"])).stdout || "[]") as { id: string; status: string }[];
}

/**
 * Issue 5's acceptance point for the daemon: `kill -9` of the engine during a build's RUN (a build
 * through the engine, `docker build`), then the engine started again on the same data root: no mount,
 * no crun container, no active snapshot and no step network namespace is left, and the next build works.
 */
describe("engine killed with SIGKILL during a build's RUN", () => {
  it("leaves nothing once it is started again, and the next build works", async () => {
    const root = await tempDir("daemon-crash");
    const dataRoot = join(root, "data");
    const socket = join(root, "docker.sock");
    const ctx = join(root, "ctx");
    mkdirSync(ctx);
    writeFileSync(join(ctx, "Dockerfile"), `FROM ${fixtures().registry.host}/busybox\nRUN echo started && sleep 597\n`);
    const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, "docker-config"), DOCKER_BUILDKIT: "0" };

    const first = await startEngineChild(dataRoot, socket);
    const firstExit = new Promise<void>((resolve) => first.once("exit", () => resolve()));
    const client = new AbortController();
    let ended: string | undefined;
    const building = run("docker", ["build", "-t", "crash/app:1", ctx], { env, signal: client.signal, timeoutMs: 120_000 }).then(
      (r) => void (ended = `docker build ended (${r.code}): ${r.stdout}${r.stderr}`),
      () => undefined,
    );
    try {
      for (let i = 0; i < 1200 && ended === undefined && !(await crunContainers(dataRoot)).some((c) => c.status === "running"); i++) await new Promise((r) => setTimeout(r, 50));
      expect(ended).toBeUndefined();
      expect((await crunContainers(dataRoot)).map((c) => c.status)).toEqual(["running"]);
    } finally {
      first.kill("SIGKILL");
      await firstExit;
      client.abort();
      await building;
    }
    // What the killed engine left: the step's container (crun runs it outside the engine), its mounts.
    expect((await crunContainers(dataRoot)).map((c) => c.status)).toEqual(["running"]);
    expect(mountsUnder(join(dataRoot, "snapshots")).length).toBeGreaterThan(0);

    const second = await startEngineChild(dataRoot, socket);
    const secondExit = new Promise<void>((resolve) => second.once("exit", () => resolve()));
    try {
      expect(await crunContainers(dataRoot)).toEqual([]);
      expect(mountsUnder(join(dataRoot, "snapshots"))).toEqual([]);
      expect(readdirSync(join(dataRoot, "snapshots", "active"))).toEqual([]);
      const tag = datapathNames(dataRoot).tag;
      const namespaces = existsSync("/run/netns") ? readdirSync("/run/netns").filter((n) => n.startsWith(`htk-${tag}-`)) : [];
      expect(namespaces).toEqual([]);

      writeFileSync(join(ctx, "Dockerfile"), `FROM ${fixtures().registry.host}/busybox\nRUN echo after > /after.txt\nCMD ["cat", "/after.txt"]\n`);
      const next = await run("docker", ["build", "-q", "-t", "crash/app:2", ctx], { env, timeoutMs: 120_000 });
      expect(next.code, next.stderr).toBe(0);
      const out = await run("docker", ["run", "--rm", "--network", "none", "crash/app:2"], { env });
      expect(out.stdout).toBe("after\n");
    } finally {
      second.kill("SIGTERM");
      await secondExit;
    }
  });
});
