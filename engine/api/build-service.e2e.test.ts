import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { suiteEngine } from "../e2e/harness.ts";

/**
 * The build service through the real docker CLI 28 and the installed buildx plugin: builders (ls,
 * create, use, inspect, rm) against a test engine. The engine's service answers ListWorkers.
 */
describe("docker buildx builders on a HATAKE engine", () => {
  const engine = suiteEngine({ plugin: true });
  const docker = (args: string[], env: NodeJS.ProcessEnv = {}) => engine.docker(args, { env });

  it("lists the default context's builder with the engine's version and platform", async () => {
    const r = await docker(["buildx", "ls"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("NAME/NODE     DRIVER/ENDPOINT   STATUS    BUILDKIT               PLATFORMS");
    expect(lines[1]).toMatch(/^default\* +hatake +$/);
    expect(lines[2]).toMatch(/^ \\_ default +\\_ default +running +v0\.13\.2-hatake\.\S+ +linux\/(amd64|arm64)$/);
  });

  it("creates, uses, inspects and removes builders in buildx's store", async () => {
    const created = await docker(["buildx", "create", "--name", "far", "--driver", "remote", engine.host]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toBe("far\n");
    const store = join(engine.env["DOCKER_CONFIG"] as string, "buildx");
    expect(JSON.parse(readFileSync(join(store, "instances", "far"), "utf8"))).toEqual({
      Name: "far",
      Driver: "remote",
      Nodes: [{ Name: "far0", Endpoint: engine.host, Platforms: null, DriverOpts: null, Flags: null, Files: null }],
      Dynamic: false,
    });

    const local = await docker(["buildx", "create", "--use", "--name", "Near"]);
    expect(local.stdout).toBe("near\n");
    const ls = await docker(["buildx", "ls", "--format", "{{.Name}} {{.DriverEndpoint}} {{.Status}}"]);
    expect(ls.stdout).toBe("far remote \nnear hatake \ndefault hatake \n");
    expect((await docker(["buildx", "ls"])).stdout).toMatch(/^near\* +hatake/m);

    const inspect = await docker(["buildx", "inspect"]);
    expect(inspect.stdout).toMatch(/^Name: +near\nDriver: +hatake\nLast Activity: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC\n\nNodes:\nName: +near0\nEndpoint: +unix:\/\/.*\nStatus: +running\nBuildKit version: +v0\.13\.2-hatake/);
    const boot = await docker(["buildx", "inspect", "--bootstrap", "far"]);
    expect(boot.code).toBe(0);
    expect(boot.stdout).toMatch(/^Name: +far\nDriver: +remote\n/);

    expect((await docker(["buildx", "use", "default"])).code).toBe(0);
    expect((await docker(["buildx", "ls"])).stdout).toMatch(/^default\* +hatake/m);
    const rm = await docker(["buildx", "rm", "far", "near"]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stderr).toBe("far removed\nnear removed\n");
    expect(existsSync(join(store, "instances", "far"))).toBe(false);
  });

  // HTK-BUILDX-0013 (a context builder), HTK-BUILDX-0003 (no such builder), HTK-BUILDX-0009 (default is
  // reserved), HTK-BUILDX-0012 (remote without endpoint), HTK-BUILDX-0014 (unknown driver),
  // HTK-BUILDX-0004 (invalid name), HTK-BUILDX-0017 (use of an unknown instance).
  it("fails with buildx's texts and exit codes", async () => {
    const def = await docker(["buildx", "rm", "default"]);
    expect(def.code).toBe(1);
    expect(def.stderr).toBe("failed to remove default: context builder cannot be removed, run `docker context rm default` to remove this context\nERROR: failed to remove one or more builders\n");
    const missing = await docker(["buildx", "inspect", "nope"]);
    expect(missing).toMatchObject({ code: 1, stderr: 'ERROR: no builder "nope" found\n' });
    expect((await docker(["buildx", "create", "--name", "default"])).stderr).toBe("ERROR: default is a reserved name and cannot be used to identify builder instance\n");
    expect((await docker(["buildx", "create", "--name", "x", "--driver", "remote"])).stderr).toBe("ERROR: no remote endpoint provided\n");
    expect((await docker(["buildx", "create", "--name", "x", "--driver", "kubernetes"])).stderr).toBe('ERROR: failed to find driver "kubernetes"\n');
    expect((await docker(["buildx", "create", "--name", "1x"])).stderr).toBe("ERROR: invalid name 1x, name needs to start with a letter and may not contain symbols, except ._-\n");
    const use = await docker(["buildx", "use", "ghost"]);
    expect(use.stderr).toMatch(/^ERROR: failed to find instance "ghost": open .*\/buildx\/instances\/ghost: no such file or directory\n$/);
  });

  it("shows an unreachable node as an error and says why (HTK-BUILDX-0006)", async () => {
    expect((await docker(["buildx", "create", "--name", "gone", "--driver", "remote", `unix://${join(engine.root, "nothing.sock")}`])).code).toBe(0);
    const ls = await docker(["buildx", "ls"]);
    expect(ls.stdout).toMatch(/^ \\_ gone0 +\\_ unix:\/\/.*nothing\.sock +error +$/m);
    expect(ls.stderr).toMatch(/Failed to get status for gone \(gone0\): Cannot connect to the HATAKE engine at unix:\/\/.*nothing\.sock: ENOENT\./);
    const boot = await docker(["buildx", "inspect", "--bootstrap", "gone"]);
    expect(boot.code).toBe(1);
    expect(boot.stderr).toMatch(/HTK-BUILDX-0006/);
    await docker(["buildx", "rm", "gone"]);
  });
});
