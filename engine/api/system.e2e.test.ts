import { readFileSync } from "node:fs";
import { availableParallelism, hostname, release } from "node:os";
import { describe, expect, inject, it } from "vitest";
import { pullImage, startTestEngine, suiteEngine } from "../e2e/harness.ts";
import { parseOsRelease } from "./host-facts.ts";

// docker info, docker events and docker system df with the real docker CLI (issue 7).
describe("docker info / events / system df against the engine", () => {
  const engine = suiteEngine({
      flags: { insecureRegistries: ["registry.test:5000", "10.20.0.0/16"], registryMirrors: ["https://mirror.test"] },
    });

  it("docker info prints the server section with the host's real figures", async () => {
    const r = await engine.docker(["info"]);
    expect(r.code).toBe(0);
    const pretty = parseOsRelease(readFileSync("/etc/os-release", "utf8"))["PRETTY_NAME"] ?? "";
    for (const line of [
      "Server:",
      " Containers: 0",
      "  Running: 0",
      " Images: 0",
      " Server Version: 0.1.0",
      " Cgroup Driver: cgroupfs",
      " Swarm: inactive",
      " Runtimes: crun",
      " Default Runtime: crun",
      "  seccomp",
      "   Profile: builtin",
      ` Kernel Version: ${release()}`,
      ` CPUs: ${availableParallelism()}`,
      ` Name: ${hostname()}`,
      ` Docker Root Dir: ${engine.dataRoot}`,
      " Insecure Registries:",
      "  registry.test:5000",
      "  10.20.0.0/16",
      "  127.0.0.0/8",
      " Registry Mirrors:",
      "  https://mirror.test/",
      " Live Restore Enabled: false",
    ]) {
      expect(r.stdout.split("\n"), line).toContain(line);
    }
    expect(r.stdout).toMatch(new RegExp(`^ Operating System: ${pretty.replace(/[()]/g, "\\$&")}`, "m"));
    expect(r.stdout).toMatch(/^ Storage Driver: (overlayfs|native)$/m);
    expect(r.stdout).toMatch(/^ ID: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/m);
  });

  it("docker info --format '{{json .}}' carries every field the CLI reads", async () => {
    const r = await engine.docker(["info", "--format", "{{json .}}"]);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(info).toMatchObject({
      Containers: 0,
      ContainersRunning: 0,
      ContainersPaused: 0,
      ContainersStopped: 0,
      Images: 0,
      OSType: "linux",
      DockerRootDir: engine.dataRoot,
      NCPU: availableParallelism(),
      DefaultRuntime: "crun",
      Runtimes: { crun: { path: "crun" } },
      Swarm: { LocalNodeState: "inactive", ControlAvailable: false },
      IndexServerAddress: "https://index.docker.io/v1/",
      LoggingDriver: "json-file",
      CgroupDriver: "cgroupfs",
      SecurityOptions: ["name=seccomp,profile=builtin"],
      RegistryConfig: {
        InsecureRegistryCIDRs: ["127.0.0.0/8", "10.20.0.0/16"],
        Mirrors: ["https://mirror.test/"],
        IndexConfigs: {
          "docker.io": { Name: "docker.io", Mirrors: ["https://mirror.test/"], Secure: true, Official: true },
          "registry.test:5000": { Name: "registry.test:5000", Mirrors: [], Secure: false, Official: false },
        },
      },
    });
    expect(info["MemTotal"]).toBeGreaterThan(0);
    expect(info["CgroupVersion"]).toMatch(/^[12]$/);
    expect(info["ServerErrors"]).toBeUndefined();
  });

  it("keeps the engine ID across a restart on the same data root", async () => {
    const first = await startTestEngine();
    try {
      const id = (await first.docker(["info", "--format", "{{.ID}}"])).stdout;
      await first.stop({ remove: false });
      const second = await startTestEngine({ dataRoot: first.dataRoot });
      try {
        expect((await second.docker(["info", "--format", "{{.ID}}"])).stdout).toBe(id);
      } finally {
        await second.stop();
      }
    } finally {
      await first.stop();
    }
  });

  it("docker events --since/--until replays the window, filtered, and ends", async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    await engine.docker(["volume", "create", "--label", "e2e=events", "ev-one"]);
    await engine.docker(["volume", "create", "ev-two"]);
    await engine.docker(["volume", "rm", "ev-one", "ev-two"]);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    await new Promise((r) => setTimeout(r, 1100)); // until must be in the past for the stream to end
    const fmt = ["--format", "{{.Type}} {{.Action}} {{.Actor.ID}}"];
    const all = await engine.docker(["events", "--since", since, "--until", until, "--filter", "type=volume", ...fmt]);
    expect(all).toMatchObject({ code: 0, stderr: "" });
    expect(all.stdout.split("\n").filter((l) => l.includes(" ev-"))).toEqual([
      "volume create ev-one",
      "volume create ev-two",
      "volume destroy ev-one",
      "volume destroy ev-two",
    ]);
    const one = await engine.docker(["events", "--since", since, "--until", until, "--filter", "volume=ev-two", "--filter", "event=destroy", ...fmt]);
    expect(one.stdout).toBe("volume destroy ev-two\n");
    const labelled = await engine.docker(["events", "--since", since, "--until", until, "--filter", "label=e2e=events", ...fmt]);
    expect(labelled.stdout).toBe("");
    const plain = await engine.docker(["events", "--since", since, "--until", until, "--filter", "volume=ev-one"]);
    expect(plain.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z volume create ev-one \(driver=local\)\n.* volume destroy ev-one \(driver=local\)\n$/);
    const json = await engine.docker(["events", "--since", since, "--until", until, "--filter", "volume=ev-one", "--format", "{{json .}}"]);
    const first = JSON.parse(json.stdout.split("\n")[0] ?? "{}") as Record<string, unknown>;
    expect(first).toMatchObject({ Type: "volume", Action: "create", Actor: { ID: "ev-one", Attributes: { driver: "local" } }, scope: "local" });
    expect(typeof first["timeNano"]).toBe("number");
  });

  it("docker events streams live events until --until", async () => {
    const until = String(Math.floor(Date.now() / 1000) + 3);
    const stream = engine.docker(["events", "--until", until, "--filter", "volume=ev-live", "--format", "{{.Action}} {{.Actor.ID}}"]);
    await new Promise((r) => setTimeout(r, 500));
    await engine.docker(["volume", "create", "ev-live"]);
    await engine.docker(["volume", "rm", "ev-live"]);
    const r = await stream;
    expect(r).toMatchObject({ code: 0, stdout: "create ev-live\ndestroy ev-live\n" });
  });

  it("docker events filters container events by container, image and event", async () => {
    const busybox = inject("busybox").reference;
    await pullImage(engine, busybox);
    const since = String(Math.floor(Date.now() / 1000) - 1);
    expect((await engine.docker(["run", "--name", "ev-box", "--label", "e2e=events", busybox, "sh", "-c", "exit 3"])).code).toBe(3);
    expect((await engine.docker(["rm", "ev-box"])).code).toBe(0);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    await new Promise((r) => setTimeout(r, 1100)); // until must be in the past for the stream to end
    const window = ["events", "--since", since, "--until", until];
    const actions = await engine.docker([...window, "--filter", "container=ev-box", "--format", "{{.Action}}"]);
    expect(actions.stdout.split("\n").filter((l) => l !== "")).toEqual(expect.arrayContaining(["create", "start", "die", "destroy"]));
    const die = await engine.docker([...window, "--filter", "event=die", "--filter", "label=e2e=events", "--format", "{{.Status}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}} {{.From}}"]);
    expect(die.stdout).toBe(`die ev-box 3 ${busybox}\n`);
    const byImage = await engine.docker([...window, "--filter", `image=${busybox}`, "--filter", "event=destroy", "--format", "{{.Type}} {{.Actor.Attributes.name}}"]);
    expect(byImage.stdout).toBe("container ev-box\n");
  });

  it("refuses a since after until and unknown filters with Docker's texts", async () => {
    const r = await engine.docker(["events", "--since", "20", "--until", "10"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error response from daemon: `since` time \(20\) cannot be after `until` time \(10\) \[HTK-ENGINE-0464\]/);
    // Docker ignores filter names it does not know (and streams everything); the engine says so instead.
    const bad = await engine.docker(["events", "--since", "1", "--until", "2", "--filter", "colour=red"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^Error response from daemon: invalid filter 'colour'\. \[HTK-ENGINE-0116\]/);
  });
});
