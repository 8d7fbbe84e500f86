import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";

/** A /24 that no other engine on this host is likely to use (tests run several engines at once). */
function randomSubnet(): { subnet: string; prefix: string } {
  const a = 100 + Math.floor(Math.random() * 150);
  const b = Math.floor(Math.random() * 250);
  return { subnet: `10.${a}.${b}.0/24`, prefix: `10.${a}.${b}` };
}

describe("endpoint settings at run and connect (--network-alias, --ip) with the docker CLI", () => {
  let engine: TestEngine;
  const busybox = inject("busybox").reference;

  beforeAll(async () => {
    engine = await startTestEngine();
    expect((await engine.docker(["pull", "-q", busybox])).code).toBe(0);
  });
  afterAll(async () => {
    await engine.stop();
  });

  it("docker run --network-alias --ip: inspect shows Aliases, IPAMConfig, DNSNames and the address; the address and alias come back after a restart", async () => {
    const { subnet, prefix } = randomSubnet();
    expect((await engine.docker(["network", "create", "--subnet", subnet, "epnet"])).code).toBe(0);
    const r = await engine.docker(["run", "-d", "--name", "ep1", "--hostname", "box1", "--network", "epnet", "--network-alias", "db", "--network-alias", "cache", "--ip", `${prefix}.50`, busybox, "sleep", "600"]);
    expect(r.stderr).toBe("");
    const id = r.stdout.trim();
    const show = async (): Promise<Record<string, unknown>> =>
      JSON.parse((await engine.docker(["inspect", "--format", "{{json .NetworkSettings.Networks.epnet}}", "ep1"])).stdout) as Record<string, unknown>;
    const ep = await show();
    expect(ep["Aliases"]).toEqual(["db", "cache"]);
    expect(ep["IPAMConfig"]).toEqual({ IPv4Address: `${prefix}.50` });
    expect(ep["IPAddress"]).toBe(`${prefix}.50`);
    expect(ep["DNSNames"]).toEqual(["ep1", "db", "cache", id.slice(0, 12), "box1"]);
    expect((await engine.docker(["exec", "ep1", "ip", "-4", "-o", "addr", "show", "eth0"])).stdout).toContain(`inet ${prefix}.50/24`);
    expect((await engine.docker(["network", "inspect", "--format", "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}", "epnet"])).stdout.trim()).toBe(`ep1 ${prefix}.50/24`);

    expect((await engine.docker(["stop", "-t", "0", "ep1"])).code).toBe(0);
    const stopped = await show();
    expect(stopped["IPAddress"]).toBe("");
    expect(stopped["IPAMConfig"]).toEqual({ IPv4Address: `${prefix}.50` });
    expect((await engine.docker(["start", "ep1"])).code).toBe(0);
    const again = await show();
    expect(again["IPAddress"]).toBe(`${prefix}.50`);
    expect(again["Aliases"]).toEqual(["db", "cache"]);

    // The address is taken: a second container asking for it gets Docker's error at start.
    const clash = await engine.docker(["run", "-d", "--name", "ep2", "--network", "epnet", "--ip", `${prefix}.50`, busybox, "sleep", "600"]);
    expect(clash.code).toBe(125);
    expect(clash.stderr).toContain("Address already in use");
    expect((await engine.docker(["rm", "-f", "ep1", "ep2"])).code).toBe(0);
    expect((await engine.docker(["network", "rm", "epnet"])).code).toBe(0);
  });

  it("docker run with two --network: both endpoints at start, each with its alias; docker network connect --alias --ip shows them", async () => {
    const a = randomSubnet();
    const b = randomSubnet();
    const c = randomSubnet();
    expect((await engine.docker(["network", "create", "--subnet", a.subnet, "epa"])).code).toBe(0);
    expect((await engine.docker(["network", "create", "--subnet", b.subnet, "epb"])).code).toBe(0);
    expect((await engine.docker(["network", "create", "--subnet", c.subnet, "epc"])).code).toBe(0);
    const r = await engine.docker(["run", "-d", "--name", "two", "--network", "name=epa,alias=ina", "--network", "name=epb,alias=inb,ip=" + `${b.prefix}.9`, busybox, "sleep", "600"]);
    expect(r.stderr).toBe("");
    const nets = JSON.parse((await engine.docker(["inspect", "--format", "{{json .NetworkSettings.Networks}}", "two"])).stdout) as Record<string, Record<string, unknown>>;
    expect(Object.keys(nets).sort()).toEqual(["epa", "epb"]);
    expect(nets["epa"]?.["Aliases"]).toEqual(["ina"]);
    expect(nets["epb"]?.["Aliases"]).toEqual(["inb"]);
    expect(nets["epb"]?.["IPAddress"]).toBe(`${b.prefix}.9`);
    expect((await engine.docker(["exec", "two", "ip", "-4", "-o", "addr", "show", "eth1"])).stdout).toMatch(/inet 10\./);

    expect((await engine.docker(["network", "connect", "--alias", "inc", "--ip", `${c.prefix}.77`, "epc", "two"])).code).toBe(0);
    const epc = JSON.parse((await engine.docker(["inspect", "--format", "{{json .NetworkSettings.Networks.epc}}", "two"])).stdout) as Record<string, unknown>;
    expect(epc["Aliases"]).toEqual(["inc"]);
    expect(epc["IPAddress"]).toBe(`${c.prefix}.77`);
    expect(epc["IPAMConfig"]).toEqual({ IPv4Address: `${c.prefix}.77` });
    expect((await engine.docker(["exec", "two", "ip", "-4", "-o", "addr"])).stdout).toContain(`inet ${c.prefix}.77/24`);
    expect((await engine.docker(["network", "disconnect", "epc", "two"])).code).toBe(0);
    const after = JSON.parse((await engine.docker(["inspect", "--format", "{{json .NetworkSettings.Networks}}", "two"])).stdout) as Record<string, unknown>;
    expect(Object.keys(after).sort()).toEqual(["epa", "epb"]);
    expect((await engine.docker(["rm", "-f", "two"])).code).toBe(0);
    for (const n of ["epa", "epb", "epc"]) expect((await engine.docker(["network", "rm", n])).code).toBe(0);
  });

  it("--ip and --network-alias on the default bridge are Docker's errors (HTK-ENGINE-0484)", async () => {
    const ip = await engine.docker(["create", "--ip", "172.17.0.9", busybox]);
    expect(ip.code).not.toBe(0);
    expect(ip.stderr).toContain("user specified IP address is supported on user defined networks only");
    const alias = await engine.docker(["create", "--network-alias", "x", busybox]);
    expect(alias.code).not.toBe(0);
    // The CLI refuses this one itself; the API's own check (HTK-ENGINE-0491) answers other clients.
    expect(alias.stderr).toContain("network-scoped aliases are only supported for user-defined networks");
  });
});
