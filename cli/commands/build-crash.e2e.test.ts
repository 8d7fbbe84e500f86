import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { fixtures, requirePrograms, run, runChecked, tempDir } from "../../testing/index.ts";

const CLI = join(import.meta.dirname, "..", "main.ts");
// Resolved here: the child runs in the build's folder, where "tsx" would not resolve.
const TSX = join(import.meta.dirname, "..", "..", "node_modules", "tsx", "dist", "esm", "index.mjs");
const SECRET = "KILL9-SECRET-4b1d6f0e";

/** Mount points under `dir` in our mount namespace (the build process shares it). */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p.startsWith(dir));
}

/** `hatake build` as its own process (what a user runs), its stderr collected. */
function startBuild(root: string, args: readonly string[]): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", TSX, CLI, "build", "--data-root", "data", "--progress=plain", ...args, "ctx"], {
    cwd: root,
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, HATAKE_BUILD_WORKER: "" },
  });
  let err = "";
  child.stderr?.on("data", (c: Buffer) => (err += c.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

async function waitFor(what: string, ok: () => boolean, exited: Promise<unknown>, timeoutMs = 60_000): Promise<void> {
  let done = false;
  void exited.then(() => (done = true));
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (done) throw new Error(`the build exited before ${what}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Issue 5's acceptance point: `kill -9` of the build process during a RUN, then a new build on the
 * same data root. The killed process leaves a running crun container, an overlay mount, an active
 * snapshot, its lock file, a secret in RAM and an agent socket; the next build must find and remove all of them,
 * and work.
 */
describe("hatake build killed with SIGKILL during a RUN", () => {
  beforeAll(() => void requirePrograms([{ program: "ssh-keygen", aptPackage: "openssh-client" }, { program: "pgrep", aptPackage: "procps" }]));

  it("leaves nothing behind once the next build has started, and the next build works", async () => {
    const root = await tempDir("kill9");
    mkdirSync(join(root, "ctx"));
    writeFileSync(join(root, "tok"), SECRET);
    const dockerfile = (cmd: string): string =>
      `FROM ${fixtures().registry.host}/busybox\nRUN echo base > /base\nRUN --mount=type=secret,id=tok --mount=type=cache,target=/cache --mount=type=ssh,id=k ${cmd}\n`;
    writeFileSync(join(root, "ctx", "Dockerfile"), dockerfile("echo started && sleep 597"));
    const dataRoot = join(root, "data");
    const state = join(dataRoot, "runtime", "state");

    await runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(root, "key")]);
    const secrets = ["--secret", "id=tok,src=tok", "--ssh", "k=key"];
    const first = startBuild(root, secrets);
    try {
      await waitFor("the RUN step to start", () => /#\d+ \d+\.\d+ started/.test(first.stderr()), first.exited);
    } catch (err) {
      first.child.kill("SIGKILL");
      throw new Error(`${(err as Error).message}\n${first.stderr()}`);
    }
    first.child.kill("SIGKILL");
    await first.exited;

    // What the killed process left: a running container, the step's overlay mount, an active snapshot.
    const containers = JSON.parse((await runChecked("crun", ["--root", state, "list", "--format", "json"])).stdout) as { id: string; status: string }[];
    expect(containers.map((c) => c.status)).toEqual(["running"]);
    expect(mountsUnder(dataRoot).length).toBeGreaterThan(0);
    expect(readdirSync(join(dataRoot, "snapshots", "active")).length).toBeGreaterThan(0);
    expect(existsSync(join(dataRoot, "build.lock"))).toBe(true);
    // … and, outside the data root, the step's secret (in RAM) and its agent socket.
    const hash = createHash("sha256").update(join(dataRoot, "worker")).digest("hex").slice(0, 12);
    expect((await run("grep", ["-r", "-a", "-l", "-F", SECRET, "/dev/shm"])).stdout).toContain(`hatake-secret-${hash}-`);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith(`htk-ssh-${hash}-`)).length).toBe(1);

    // The next build (the RUN line changed so it runs quickly) opens the same data root.
    writeFileSync(join(root, "ctx", "Dockerfile"), dockerfile("test -s /run/secrets/tok && echo second-run"));
    const second = startBuild(root, [...secrets, "-t", "kill9/app:1"]);
    const code = await second.exited;
    expect(second.stderr(), second.stderr()).not.toContain("ERROR");
    expect(code).toBe(0);
    expect(second.stderr()).toContain("second-run");
    // The step before the killed one had completed: its result survived.
    expect(second.stderr()).toMatch(/RUN echo base > \/base\n#\d+ CACHED/);

    // Nothing of the killed build is left.
    expect(mountsUnder(dataRoot)).toEqual([]);
    expect(JSON.parse((await runChecked("crun", ["--root", state, "list", "--format", "json"])).stdout)).toEqual([]);
    expect(readdirSync(state)).toEqual([]);
    expect(readdirSync(join(dataRoot, "runtime", "bundles"))).toEqual([]);
    expect(readdirSync(join(dataRoot, "snapshots", "active"))).toEqual([]);
    expect(readdirSync(join(dataRoot, "snapshots", "staging"))).toEqual([]);
    expect(existsSync(join(dataRoot, "build.lock"))).toBe(false);
    // Every committed snapshot is complete (its meta.json was written last).
    for (const n of readdirSync(join(dataRoot, "snapshots", "layers"))) expect(existsSync(join(dataRoot, "snapshots", "layers", n, "meta.json"))).toBe(true);
    // The secret the killed step had mounted is gone from RAM, and nowhere in the data root.
    expect((await run("grep", ["-r", "-a", "-l", "-F", SECRET, "/dev/shm"])).stdout).toBe("");
    expect(readdirSync("/dev/shm").filter((n) => n.includes(hash))).toEqual([]);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith(`htk-ssh-${hash}`))).toEqual([]);
    expect((await run("grep", ["-r", "-a", "-l", "-F", SECRET, dataRoot])).stdout).toBe("");
    // No process of the killed container is left.
    const sleeps = await run("pgrep", ["-f", "sleep 597"]);
    expect(sleeps.stdout.trim()).toBe("");
  });
});
