import { mkdirSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixtures, run } from "../../testing/index.ts";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";

/**
 * docker build's --shm-size, --ulimit and --cgroup-parent reach RUN steps, with real clients on a test
 * engine: the docker CLI 28 through the buildx plugin (BuildKit's frontend attributes), the same CLI
 * with DOCKER_BUILDKIT=0 (POST /build's shmsize, ulimits, cgroupparent) and docker-py.
 */
describe("build steps' --shm-size, --ulimit, --cgroup-parent", () => {
  let engine: TestEngine;
  const { busybox } = fixtures();
  const parent = `htk-e2e-limits-${process.pid}`;
  const docker = (args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) => engine.docker(args, { ...opts, timeoutMs: 180_000 });
  // What the step saw: /dev/shm's size in KiB, the soft and hard nofile, and its cgroups.
  const dockerfile = (tag: string): string =>
    `FROM ${busybox.reference}\nRUN echo ${tag} && df -k /dev/shm | awk 'NR==2 {print "shm=" $2}' > /limits && echo "nofile=$(ulimit -Sn):$(ulimit -Hn)" >> /limits && cat /proc/self/cgroup > /cgroup\n`;

  beforeAll(async () => {
    engine = await startTestEngine({ plugin: true });
  }, 180_000);
  afterAll(async () => {
    await engine?.stop();
    // The steps' cgroups are gone; the parents crun made for them stay (as with BuildKit): remove them.
    for (const c of ["", ...readdirSync("/sys/fs/cgroup")]) {
      for (const d of [`/sys/fs/cgroup/${c}/${parent}/buildkit`, `/sys/fs/cgroup/${c}/${parent}`]) {
        try {
          rmdirSync(d);
        } catch {
          // not on this hierarchy
        }
      }
    }
  });

  function context(name: string, text: string): string {
    const dir = join(engine.root, "contexts", name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), text);
    return dir;
  }

  const limitsOf = async (image: string): Promise<string> => {
    const r = await docker(["run", "--rm", image, "cat", "/limits"]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };

  it("docker build (buildx plugin): the step gets them; the same flags are CACHED, a changed --ulimit runs the step again", async () => {
    const dir = context("plugin", dockerfile("plugin"));
    const flags = ["--shm-size", "128m", "--ulimit", "nofile=1024:2048"];
    const first = await docker(["build", "--progress=plain", ...flags, "-t", "limits/plugin", "."], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    expect(await limitsOf("limits/plugin")).toBe("shm=131072\nnofile=1024:2048\n");

    const same = await docker(["build", "--progress=plain", ...flags, "-t", "limits/plugin", "."], { cwd: dir });
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).toMatch(/#(\d+) \[2\/2\] RUN echo plugin[^\n]*\n#\1 CACHED/);

    const changed = await docker(["build", "--progress=plain", "--shm-size", "128m", "--ulimit", "nofile=512:4096", "-t", "limits/plugin2", "."], { cwd: dir });
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr).not.toMatch(/#(\d+) \[2\/2\] RUN echo plugin[^\n]*\n#\1 CACHED/);
    expect(await limitsOf("limits/plugin2")).toBe("shm=131072\nnofile=512:4096\n");

    // Without the flags: Docker's defaults (64 MiB /dev/shm).
    const plain = await docker(["build", "-q", "-t", "limits/plain", "."], { cwd: dir });
    expect(plain.code, plain.stderr).toBe(0);
    expect(await limitsOf("limits/plain")).toMatch(/^shm=65536\n/);
  });

  it("docker build --cgroup-parent places the step under PARENT/buildkit (BuildKit's path)", async () => {
    const dir = context("cgroup", dockerfile("cgroup"));
    const r = await docker(["build", "-q", "--cgroup-parent", parent, "-t", "limits/cgroup", "."], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const cg = await docker(["run", "--rm", "limits/cgroup", "cat", "/cgroup"]);
    expect(cg.stdout).toMatch(new RegExp(`:/${parent}/buildkit/htk-build-[0-9a-f]+$`, "m"));
  });

  it("the plugin refuses bad values with buildx's texts, before anything is sent", async () => {
    const dir = context("bad", dockerfile("bad"));
    const ulimit = await docker(["build", "--ulimit", "nofile=5:2", "."], { cwd: dir });
    expect(ulimit.code).toBe(125);
    expect(ulimit.stderr).toContain('invalid argument "nofile=5:2" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: 5 > 2');
    const type = await docker(["buildx", "build", "--ulimit", "bogus=1", "."], { cwd: dir });
    expect(type.stderr).toContain('invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus');
    const shm = await docker(["build", "--shm-size", "12q", "."], { cwd: dir });
    expect(shm.stderr).toContain(`invalid argument "12q" for "--shm-size" flag: invalid suffix: 'q'`);
    const slice = await docker(["build", "-q", "--cgroup-parent", "ci.slice:hatake:", "."], { cwd: dir });
    expect(slice.code).toBe(1);
    expect(slice.stderr).toContain("HTK-RUNTIME-0340");
  });

  it("DOCKER_BUILDKIT=0 docker build (POST /build): shmsize, ulimits and cgroupparent reach the step", async () => {
    const dir = context("classic", dockerfile("classic"));
    const r = await docker(["build", "--shm-size", "128m", "--ulimit", "nofile=1024:2048", "--cgroup-parent", parent, "-t", "limits/classic", "."], { cwd: dir, env: { DOCKER_BUILDKIT: "0" } });
    expect(r.code, r.stderr).toBe(0);
    expect(await limitsOf("limits/classic")).toBe("shm=131072\nnofile=1024:2048\n");
    expect((await docker(["run", "--rm", "limits/classic", "cat", "/cgroup"])).stdout).toMatch(new RegExp(`:/${parent}/buildkit/`, "m"));
  });

  it("docker-py images.build(shmsize=…); POST /build refuses a ulimit name Docker does not know (HTK-BUILD-0422)", async () => {
    const dir = context("py", dockerfile("py"));
    const script = `
import docker, sys
client = docker.DockerClient(base_url=sys.argv[1])
image, _ = client.images.build(path=sys.argv[2], tag="limits/py", shmsize=256 * 1024 * 1024)
print(client.containers.run("limits/py", ["cat", "/limits"], remove=True).decode(), end="")
# An unknown ulimit name, as a raw API client could send it.
resp = client.api._post(client.api._url("/build"), params={"ulimits": '[{"Name":"bogus","Soft":1,"Hard":1}]'}, data=b"", headers={"Content-Type": "application/x-tar"})
try:
    client.api._raise_for_status(resp)
except docker.errors.APIError as e:
    print("error:", e.explanation)
`;
    const r = await run("/usr/bin/python3", ["-c", script, engine.host, dir], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("shm=262144\n");
    expect(r.stdout).toMatch(/error: The ulimit "bogus" is not a resource limit Docker knows.*HTK-BUILD-0422/);
  });
});
