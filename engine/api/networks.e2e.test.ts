import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";

// docker network … against the engine (issue 8, state part). Error texts are in
// conformance/flows/catalogue/networks.yaml. Connect/disconnect need `docker create`, which lands with
// the container endpoints; engine/api/networks.test.ts covers them over the API meanwhile.
describe("docker network against the engine", () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine();
  });
  afterAll(async () => {
    await engine.stop();
  });

  it("lists the predefined networks and creates, inspects and removes user networks", async () => {
    const ls = await engine.docker(["network", "ls"]);
    const lines = ls.stdout.split("\n").filter((l) => l !== "");
    expect(lines[0]).toBe("NETWORK ID     NAME      DRIVER    SCOPE");
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(1))).toEqual([
      ["bridge", "bridge", "local"],
      ["host", "host", "local"],
      ["none", "null", "local"],
    ]);
    const created = await engine.docker(["network", "create", "--subnet", "10.210.0.0/24", "--label", "tier=back", "backend"]);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const front = await engine.docker(["network", "create", "frontend"]);
    expect(front.code).toBe(0);

    const inspect = JSON.parse((await engine.docker(["network", "inspect", id.slice(0, 12)])).stdout) as Array<Record<string, unknown>>;
    expect(inspect).toEqual([
      {
        Name: "backend",
        Id: id,
        Created: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/) as unknown,
        Scope: "local",
        Driver: "bridge",
        EnableIPv6: false,
        IPAM: { Driver: "default", Options: {}, Config: [{ Subnet: "10.210.0.0/24", Gateway: "10.210.0.1" }] },
        Internal: false,
        Attachable: false,
        Ingress: false,
        ConfigFrom: { Network: "" },
        ConfigOnly: false,
        Containers: {},
        Options: {},
        Labels: { tier: "back" },
      },
    ]);
    expect((await engine.docker(["network", "inspect", "frontend", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}"])).stdout).toBe("172.18.0.0/16\n");
    expect((await engine.docker(["network", "ls", "--filter", "label=tier=back", "--format", "{{.Name}}"])).stdout).toBe("backend\n");
    expect((await engine.docker(["network", "ls", "--filter", "type=custom", "--format", "{{.Name}}"])).stdout).toBe("backend\nfrontend\n");
    expect((await engine.docker(["network", "ls", "--filter", "dangling=true", "--format", "{{.Name}}"])).stdout).toBe("backend\nfrontend\n");

    expect(await engine.docker(["network", "rm", "backend", "frontend"])).toMatchObject({ code: 0, stdout: "backend\nfrontend\n" });
    expect((await engine.docker(["network", "ls", "-q"])).stdout.trim().split("\n")).toHaveLength(3);
  });

  it("prunes unused user networks and records network events", async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    await engine.docker(["network", "create", "scratch"]);
    const prune = await engine.docker(["network", "prune", "-f"]);
    expect(prune).toMatchObject({ code: 0, stdout: "Deleted Networks:\nscratch\n\n" });
    const until = String(Math.floor(Date.now() / 1000) + 1);
    await new Promise((r) => setTimeout(r, 1100)); // until must be in the past for the stream to end
    const fmt = ["--format", "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}} {{.Actor.Attributes.reclaimed}}"];
    const events = await engine.docker(["events", "--since", since, "--until", until, "--filter", "network=scratch", ...fmt]);
    expect(events.stdout).toBe("create scratch bridge <no value>\ndestroy scratch bridge <no value>\n");
    const pruned = await engine.docker(["events", "--since", since, "--until", until, "--filter", "type=network", "--filter", "event=prune", ...fmt]);
    expect(pruned.stdout).toBe("prune <no value> <no value> 0\n");
  });

  it("keeps user networks and the predefined networks' IDs across a restart", async () => {
    const first = await startTestEngine();
    try {
      await first.docker(["network", "create", "--subnet", "10.211.0.0/24", "kept"]);
      const before = (await first.docker(["network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}"])).stdout;
      await first.stop({ remove: false });
      const second = await startTestEngine({ dataRoot: first.dataRoot });
      try {
        expect((await second.docker(["network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}"])).stdout).toBe(before);
        expect((await second.docker(["network", "inspect", "kept", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}"])).stdout).toBe("10.211.0.0/24\n");
      } finally {
        await second.stop();
      }
    } finally {
      await first.stop();
    }
  });
});
