import { describe, expect, inject, it } from "vitest";
import { startTestEngine, suiteEngine } from "../e2e/harness.ts";

// docker network … against the engine (issue 8, state part). Error texts are in
// conformance/flows/catalogue/networks.yaml.
describe("docker network against the engine", () => {
  const engine = suiteEngine();

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
    expect((await engine.docker(["network", "inspect", "frontend", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}"])).stdout).toMatch(/^(172\.(1[89]|2\d|3[01])\.0\.0\/16|192\.168\.\d+\.0\/20)\n$/); // the next default pool the host does not route (other engines' bridges)
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

// With containers (records only: no veth or address inside the container yet).
describe("docker network connect/disconnect", () => {
  const busybox = inject("busybox").reference;
  const engine = suiteEngine({ images: [busybox] });

  it("attaches a container with an alias and a static address, refuses Docker's conflicts, detaches it", async () => {
    expect((await engine.docker(["network", "create", "--subnet", "10.220.0.0/24", "app"])).code).toBe(0);
    const created = await engine.docker(["create", "--name", "web", busybox, "true"]);
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trim();

    expect(await engine.docker(["network", "connect", "--alias", "www", "--ip", "10.220.0.50", "app", "web"])).toMatchObject({ code: 0, stdout: "", stderr: "" });
    const containers = JSON.parse((await engine.docker(["network", "inspect", "app", "--format", "{{json .Containers}}"])).stdout) as Record<string, Record<string, string>>;
    expect(containers).toEqual({ [id]: { Name: "web", EndpointID: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown, MacAddress: "02:42:0a:dc:00:32", IPv4Address: "10.220.0.50/24", IPv6Address: "" } });

    const again = await engine.docker(["network", "connect", "app", "web"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^Error response from daemon: endpoint with name web already exists in network app \[HTK-ENGINE-0479\]/);
    const host = await engine.docker(["network", "connect", "host", "web"]);
    expect(host.stderr).toMatch(/^Error response from daemon: container cannot be disconnected from host network or connected to host network \[HTK-ENGINE-0481\]/);
    const alias = await engine.docker(["network", "connect", "--alias", "x", "bridge", "web"]);
    expect(alias.stderr).toMatch(/^Error response from daemon: network-scoped alias is supported only for containers in user defined networks \[HTK-ENGINE-0491\]/);
    const missing = await engine.docker(["network", "connect", "app", "nosuch"]);
    expect(missing.stderr).toMatch(/^Error response from daemon: No such container: nosuch/);

    const rm = await engine.docker(["network", "rm", "app"]);
    expect(rm.stderr).toMatch(new RegExp(`^Error response from daemon: error while removing network: network app id [0-9a-f]{64} has active endpoints \\[HTK-ENGINE-0126\\]`));
    expect(await engine.docker(["network", "disconnect", "app", "web"])).toMatchObject({ code: 0, stdout: "", stderr: "" });
    const twice = await engine.docker(["network", "disconnect", "app", "web"]);
    expect(twice.stderr).toMatch(new RegExp(`^Error response from daemon: container ${id} is not connected to network app \\[HTK-ENGINE-0480\\]`));
    expect((await engine.docker(["network", "disconnect", "-f", "app", "web"])).code).toBe(0);

    // Removing the container removes its endpoints with it.
    expect((await engine.docker(["network", "connect", "app", "web"])).code).toBe(0);
    expect((await engine.docker(["rm", "web"])).code).toBe(0);
    expect((await engine.docker(["network", "inspect", "app", "--format", "{{len .Containers}}"])).stdout).toBe("0\n");
    expect((await engine.docker(["network", "rm", "app"])).code).toBe(0);
  });
});
