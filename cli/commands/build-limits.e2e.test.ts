import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../hatake.ts";
import { memoryIo } from "../testing.ts";
import { fixtures, tempDir } from "../../testing/index.ts";

async function hatakeBuild(cwd: string, args: readonly string[]): Promise<{ code: number; err: string }> {
  const io = memoryIo({ cwd, env: {} });
  const code = await main(["build", "--data-root", "data", "--progress=plain", ...args, "ctx"], io);
  return { code, err: io.err() };
}

/** The step writes what it saw: /dev/shm's size in KiB, the soft and hard nofile, its cgroups. */
const DOCKERFILE = (reg: string): string => `FROM ${reg}/busybox
RUN df -k /dev/shm | awk 'NR==2 {print $2}' > /shm && (ulimit -Sn; ulimit -Hn) > /nofile && cat /proc/self/cgroup > /cgroup
`;

describe("hatake build --shm-size --ulimit --cgroup-parent (in-process runtime worker)", () => {
  it("gives RUN steps the /dev/shm size, rlimits and cgroup parent; a changed ulimit re-runs the step", async () => {
    const root = await tempDir("limits");
    mkdirSync(join(root, "ctx"));
    writeFileSync(join(root, "ctx", "Dockerfile"), DOCKERFILE(fixtures().registry.host));
    const parent = `htk-limits-${process.pid}`;
    const built = await hatakeBuild(root, ["--shm-size", "128m", "--ulimit", "nofile=1024:2048", "--cgroup-parent", parent, "-o", "type=local,dest=out1"]);
    expect(built.code, built.err).toBe(0);
    expect(readFileSync(join(root, "out1", "shm"), "utf8").trim()).toBe("131072");
    expect(readFileSync(join(root, "out1", "nofile"), "utf8")).toBe("1024\n2048\n");
    // cgroup v1 or v2: some hierarchy places the step under /<parent>/buildkit/<step id>.
    expect(readFileSync(join(root, "out1", "cgroup"), "utf8")).toMatch(new RegExp(`:/${parent}/buildkit/htk-build-[0-9a-f]+$`, "m"));

    const same = await hatakeBuild(root, ["--shm-size", "128m", "--ulimit", "nofile=1024:2048", "--cgroup-parent", parent, "-o", "type=local,dest=out2"]);
    expect(same.code, same.err).toBe(0);
    expect(same.err).toMatch(/RUN df -k[^\n]*\n#\d+ CACHED/);

    const changed = await hatakeBuild(root, ["--ulimit", "nofile=512:4096", "-o", "type=local,dest=out3"]);
    expect(changed.code, changed.err).toBe(0);
    expect(changed.err).not.toMatch(/RUN df -k[^\n]*\n#\d+ CACHED/);
    expect(readFileSync(join(root, "out3", "nofile"), "utf8")).toBe("512\n4096\n");
    // Docker's default /dev/shm without --shm-size.
    expect(readFileSync(join(root, "out3", "shm"), "utf8").trim()).toBe("65536");
    // crun removed the steps' cgroups; the parents it made stay (as with BuildKit): remove them.
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

  it("refuses bad values with docker's texts (HTK-BUILD-0424), systemd slices (HTK-RUNTIME-0340) and '..' (HTK-BUILD-0423)", async () => {
    const root = await tempDir("limits-bad");
    mkdirSync(join(root, "ctx"));
    writeFileSync(join(root, "ctx", "Dockerfile"), DOCKERFILE(fixtures().registry.host));
    const ulimit = await hatakeBuild(root, ["--ulimit", "nofile=5:2"]);
    expect(ulimit.code).not.toBe(0);
    expect(ulimit.err).toContain('invalid argument "nofile=5:2" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: 5 > 2');
    expect(ulimit.err).toContain("HTK-BUILD-0424");
    const shm = await hatakeBuild(root, ["--shm-size", "12q"]);
    expect(shm.err).toContain(`invalid argument "12q" for "--shm-size" flag: invalid suffix: 'q'`);
    const up = await hatakeBuild(root, ["--cgroup-parent", "../escape"]);
    expect(up.err).toContain("HTK-BUILD-0423");
    const slice = await hatakeBuild(root, ["--cgroup-parent", "ci.slice:hatake:"]);
    expect(slice.code).not.toBe(0);
    expect(slice.err).toContain("HTK-RUNTIME-0340");
  });
});
