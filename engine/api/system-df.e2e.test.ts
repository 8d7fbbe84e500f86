import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { fixtures, tempDir } from "../../testing/index.ts";
import { runLocalBuild } from "../build/local-build.ts";
import { pullImage, startTestEngine } from "../e2e/harness.ts";

// docker system df (-v) with the real docker CLI (issue 7): volumes with their sizes and links, and
// the build cache of the data root (made here by an in-process build on the same data root, as the
// daemon's build service keeps it). Images and containers come with their endpoints.
describe("docker system df against the engine", () => {
  it("reports volumes and the build cache; -v lists them; an empty engine shows zeros", async () => {
    const root = await tempDir("df");
    const dataRoot = join(root, "data");
    mkdirSync(join(root, "ctx"), { recursive: true });
    writeFileSync(join(root, "ctx", "Dockerfile"), `FROM ${fixtures().registry.host}/busybox\nRUN --mount=type=cache,id=dfcache,target=/c echo x > /c/f && echo step > /step.txt\nCOPY a.txt /a.txt\n`);
    writeFileSync(join(root, "ctx", "a.txt"), "a\n");
    const built = await runLocalBuild({
      dataRoot,
      contextDir: "ctx",
      cwd: root,
      buildArgs: {},
      noCache: false,
      outputs: [],
      progress: "quiet",
      progressOut: { write: () => true },
      explainCache: false,
      signal: new AbortController().signal,
    });
    expect(built.kind).toBe("completed");

    const engine = await startTestEngine({ dataRoot });
    try {
      await engine.docker(["volume", "create", "dfdata"]);
      writeFileSync(join(dataRoot, "volumes", "dfdata", "_data", "blob"), Buffer.alloc(1500));
      await engine.docker(["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "dfmount"]);

      const df = await engine.docker(["system", "df"]);
      expect(df.code).toBe(0);
      const rows = Object.fromEntries(
        df.stdout
          .split("\n")
          .slice(1)
          .filter((l) => l !== "")
          .map((l) => {
            const cols = l.split(/ {2,}/);
            return [cols[0] ?? "", cols.slice(1)];
          }),
      );
      expect(rows["Images"]).toEqual(["0", "0", "0B", "0B"]);
      expect(rows["Containers"]).toEqual(["0", "0", "0B", "0B"]);
      // A volume with driver options is not local data (Docker leaves it out of df too).
      expect(rows["Local Volumes"]).toEqual(["1", "0", "1.5kB", "1.5kB (100%)"]);
      const cache = rows["Build Cache"] ?? [];
      expect(Number(cache[0])).toBeGreaterThanOrEqual(4);
      expect(cache[1]).toBe("0");

      const verbose = await engine.docker(["system", "df", "-v"]);
      expect(verbose.code).toBe(0);
      expect(verbose.stdout).toContain("Local Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\ndfdata        0         1.5kB\n");
      expect(verbose.stdout).toMatch(/^Build cache usage: \d/m);
      for (const type of ["regular", "source.local", "exec.cachemount"]) expect(verbose.stdout).toMatch(new RegExp(`^[0-9a-z]{12} +${type.replace(".", "\\.")} `, "m"));

      const json = await engine.docker(["system", "df", "--format", "{{json .}}"]);
      const types = json.stdout
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => (JSON.parse(l) as { Type: string }).Type);
      expect(types).toEqual(["Images", "Containers", "Local Volumes", "Build Cache"]);
    } finally {
      await engine.stop();
    }
  });

  it("counts images and containers: shared sizes, container counts, the writable layer's size; info agrees", async () => {
    const busybox = inject("busybox").reference;
    const engine = await startTestEngine();
    try {
      await pullImage(engine, busybox);
      const run = await engine.docker(["run", "--name", "sized", "-v", "dfvol:/data", busybox, "sh", "-c", "head -c 100000 /dev/zero > /big && echo hi > /data/f"]);
      expect(run.code, run.stderr).toBe(0);
      const json = JSON.parse((await engine.docker(["info", "--format", "{{json .}}"])).stdout) as Record<string, number>;
      expect([json["Containers"], json["ContainersRunning"], json["ContainersStopped"], json["Images"]]).toEqual([1, 0, 1, 1]);

      const df = await engine.docker(["system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}"]);
      const rows = df.stdout.split("\n").filter((l) => l !== "");
      expect(rows[0]).toMatch(/^Images\|1\|1\|\d/);
      expect(rows[1]).toBe("Containers|1|0|100kB|100kB (100%)");
      expect(rows[2]).toBe("Local Volumes|1|1|3B|0B (0%)");
      const verbose = await engine.docker(["system", "df", "-v"]);
      expect(verbose.stdout).toMatch(/^[0-9a-f]{12} +\S*busybox:latest +"sh -c 'head[^"]*" +1 +100kB +.+ +Exited \(0\) .+ +sized$/m);
      expect(verbose.stdout).toMatch(/^dfvol +1 +3B$/m);
      expect(verbose.stdout).toMatch(new RegExp(`^\\S*busybox +latest +[0-9a-f]{12} +.+ +\\S+ +0B +\\S+ +1$`, "m"));
    } finally {
      await engine.stop();
    }
  });
});
