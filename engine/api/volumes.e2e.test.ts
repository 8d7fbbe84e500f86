import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { startTestEngine, suiteEngine } from "../e2e/harness.ts";

// The docker CLI's volume commands against the engine (issue 8); the error texts are in
// conformance/flows/catalogue/volumes.yaml.
describe("docker volume against the engine", () => {
  const engine = suiteEngine();

  it("creates, lists, inspects and removes volumes, with their folders under the data root", async () => {
    const created = await engine.docker(["volume", "create", "--label", "app=web", "--label", "tier=db", "webdata"]);
    expect(created).toMatchObject({ code: 0, stdout: "webdata\n", stderr: "" });
    const anon = await engine.docker(["volume", "create"]);
    const anonName = anon.stdout.trim();
    expect(anonName).toMatch(/^[0-9a-f]{64}$/);

    const ls = await engine.docker(["volume", "ls"]);
    expect(ls.stdout.split("\n").filter((l) => l !== "")).toEqual(["DRIVER    VOLUME NAME", `local     ${anonName}`, "local     webdata"]);
    expect((await engine.docker(["volume", "ls", "-q", "--filter", "label=app=web"])).stdout).toBe("webdata\n");
    expect((await engine.docker(["volume", "ls", "-q", "--filter", "label=com.docker.volume.anonymous"])).stdout).toBe(`${anonName}\n`);
    // The CLI joins {{.Labels}} from a Go map, in no fixed order.
    const formatted = (await engine.docker(["volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Labels}}", "--filter", "name=web"])).stdout;
    expect(["webdata local app=web,tier=db\n", "webdata local tier=db,app=web\n"]).toContain(formatted);

    const inspect = JSON.parse((await engine.docker(["volume", "inspect", "webdata"])).stdout) as Array<Record<string, unknown>>;
    const mountpoint = join(engine.dataRoot, "volumes", "webdata", "_data");
    expect(inspect).toEqual([
      {
        CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) as unknown,
        Driver: "local",
        Labels: { app: "web", tier: "db" },
        Mountpoint: mountpoint,
        Name: "webdata",
        Options: {},
        Scope: "local",
      },
    ]);
    expect(existsSync(mountpoint)).toBe(true);

    const rm = await engine.docker(["volume", "rm", "webdata", anonName]);
    expect(rm).toMatchObject({ code: 0, stdout: `webdata\n${anonName}\n` });
    expect(existsSync(join(engine.dataRoot, "volumes", "webdata"))).toBe(false);
    expect((await engine.docker(["volume", "ls", "-q"])).stdout).toBe("");
  });

  it("prunes anonymous volumes by default and named ones with --all, reporting the space", async () => {
    const anon = (await engine.docker(["volume", "create"])).stdout.trim();
    writeFileSync(join(engine.dataRoot, "volumes", anon, "_data", "blob"), Buffer.alloc(2048));
    await engine.docker(["volume", "create", "keepme"]);
    const prune = await engine.docker(["volume", "prune", "-f"]);
    expect(prune).toMatchObject({ code: 0, stdout: `Deleted Volumes:\n${anon}\n\nTotal reclaimed space: 2.048kB\n` });
    expect((await engine.docker(["volume", "ls", "-q"])).stdout).toBe("keepme\n");
    const all = await engine.docker(["volume", "prune", "-f", "--all"]);
    expect(all.stdout).toBe("Deleted Volumes:\nkeepme\n\nTotal reclaimed space: 0B\n");
  });

  it("keeps a named volume and its data across a daemon restart on the same data root", async () => {
    const first = await startTestEngine();
    const dataRoot = first.dataRoot;
    try {
      expect((await first.docker(["volume", "create", "--label", "keep=1", "persistent"])).code).toBe(0);
      const before = (await first.docker(["volume", "inspect", "persistent"])).stdout;
      writeFileSync(join(dataRoot, "volumes", "persistent", "_data", "note.txt"), "still here");
      await first.stop({ remove: false });

      const second = await startTestEngine({ dataRoot });
      try {
        expect((await second.docker(["volume", "inspect", "persistent"])).stdout).toBe(before);
        expect(readFileSync(join(dataRoot, "volumes", "persistent", "_data", "note.txt"), "utf8")).toBe("still here");
        expect((await second.docker(["volume", "ls", "-q"])).stdout).toBe("persistent\n");
        expect((await second.docker(["volume", "rm", "persistent"])).code).toBe(0);
      } finally {
        await second.stop();
      }
    } finally {
      await first.stop();
    }
  });
});

// With containers: a volume a container uses cannot be removed (Docker's text lists the users), and
// `docker run -v name:/path` makes the volume through the same ensureVolume.
describe("docker volume with containers", () => {
  const busybox = inject("busybox").reference;
  const engine = suiteEngine({ images: [busybox] });

  it("refuses to remove a volume in use, with or without -f, and prune keeps it", async () => {
    const created = await engine.docker(["create", "-v", "appdata:/data", "-v", "/scratch", busybox, "true"]);
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trim();
    const inspect = JSON.parse((await engine.docker(["volume", "inspect", "appdata"])).stdout) as Array<{ Name: string; Labels: Record<string, string> }>;
    expect(inspect[0]?.Name).toBe("appdata");
    for (const args of [["volume", "rm", "appdata"], ["volume", "rm", "-f", "appdata"]]) {
      const rm = await engine.docker(args);
      expect(rm.code).toBe(1);
      expect(rm.stderr).toMatch(new RegExp(`^Error response from daemon: remove appdata: volume is in use - \\[${id}\\] \\[HTK-ENGINE-0123\\]`));
    }
    expect((await engine.docker(["volume", "ls", "-q", "--filter", "dangling=false"])).stdout.split("\n").filter((l) => l !== "").sort()).toHaveLength(2);
    expect((await engine.docker(["volume", "prune", "-af"])).stdout).toBe("Total reclaimed space: 0B\n");
    expect((await engine.docker(["rm", id])).code).toBe(0);
    expect((await engine.docker(["volume", "ls", "-q", "--filter", "dangling=true"])).stdout).toContain("appdata\n");
    expect((await engine.docker(["volume", "rm", "appdata"])).stdout).toBe("appdata\n");
  });
});
