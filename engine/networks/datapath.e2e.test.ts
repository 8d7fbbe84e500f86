import type { ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { networkInterfaces } from "node:os";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { run, tempDir, type RunResult } from "../../testing/index.ts";
import { startEngineChild, startTestEngine, type TestEngine } from "../e2e/harness.ts";
import { datapathNames } from "./datapath.ts";


/** The host's first non-loopback IPv4 address (eth0's here): what a container reaches through its bridge. */
function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  throw new Error("the host has no non-loopback IPv4 address");
}

/** What this engine left on the host: links, namespaces and rules carrying its tag. */
async function leftovers(dataRoot: string): Promise<string[]> {
  const { tag } = datapathNames(dataRoot);
  const out: string[] = [];
  const links = (await run("ip", ["-o", "link", "show"])).stdout;
  for (const l of links.split("\n")) if (l.includes(`hv${tag}`)) out.push(`link ${l.trim()}`);
  const ns = (await run("ip", ["netns", "list"])).stdout;
  for (const l of ns.split("\n")) if (l.startsWith(`htk-${tag}-`)) out.push(`netns ${l}`);
  for (const table of ["nat", "filter"]) {
    const rules = (await run("iptables", ["-w", "-t", table, "-S"])).stdout;
    for (const l of rules.split("\n")) if (l.includes(`HTK-${tag}`) && l.includes("htk-ctr:")) out.push(`${table} ${l}`);
  }
  return out;
}

/** Everything with the engine's tag, bridges and chains included (after the engine stopped). */
async function anything(dataRoot: string): Promise<string[]> {
  const { tag } = datapathNames(dataRoot);
  const out: string[] = [];
  for (const l of (await run("ip", ["-o", "link", "show"])).stdout.split("\n")) if (l.includes(tag)) out.push(l.trim());
  for (const table of ["nat", "filter"]) for (const l of (await run("iptables", ["-w", "-t", table, "-S"])).stdout.split("\n")) if (l.includes(tag)) out.push(l);
  return out;
}

describe("bridge networking with the docker CLI", () => {
  let engine: TestEngine;
  let server: Server;
  let port = 0;
  const seen: string[] = [];
  const busybox = inject("busybox").reference;
  const host = hostAddress();

  beforeAll(async () => {
    engine = await startTestEngine();
    expect((await engine.docker(["pull", "-q", busybox])).code).toBe(0);
    server = createServer((req, res) => {
      seen.push(req.socket.remoteAddress ?? "");
      res.end("from the host\n");
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    const a = server.address();
    port = typeof a === "object" && a !== null ? a.port : 0;
  });
  afterAll(async () => {
    server.close();
    const dataRoot = engine.dataRoot;
    await engine.stop();
    expect(await anything(dataRoot)).toEqual([]);
  });

  it("a container on the default bridge has eth0 in the subnet, a default route via the gateway, and reaches a server on the host's address", async () => {
    const inspect = JSON.parse((await engine.docker(["network", "inspect", "bridge"])).stdout) as Array<{ IPAM: { Config: Array<{ Subnet: string; Gateway: string }> } }>;
    const cfg = inspect[0]?.IPAM.Config[0];
    expect(cfg).toBeDefined();
    const prefix = (cfg?.Gateway ?? "").split(".").slice(0, 2).join(".");
    const r = await engine.docker(["run", "--rm", busybox, "sh", "-c", `ip -4 -o addr show eth0; ip route; wget -qO- http://${host}:${port}/ && cat /etc/resolv.conf`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`eth0\\s+inet ${prefix.replace(/\./g, "\\.")}\\.\\d+\\.\\d+/`));
    expect(r.stdout).toContain(`default via ${cfg?.Gateway ?? ""} dev eth0`);
    expect(r.stdout).toContain("from the host\n");
    expect(r.stdout).toMatch(/^nameserver /m);
    // The request came from the container's own address, over the bridge (not over loopback).
    expect(seen.at(-1)).toMatch(new RegExp(`^${prefix.replace(/\./g, "\\.")}\\.`));
    expect(await leftovers(engine.dataRoot)).toEqual([]);
  });

  it("docker inspect shows the default bridge's address, gateway and MAC; docker rm -f leaves nothing", async () => {
    const id = (await engine.docker(["run", "-d", busybox, "sleep", "600"])).stdout.trim();
    const ip = (await engine.docker(["inspect", "--format", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Networks.bridge.IPAddress}} {{.NetworkSettings.Networks.bridge.MacAddress}}", id])).stdout.trim();
    const [top = "", inNet = "", mac = ""] = ip.split(" ");
    expect(top).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(inNet).toBe(top);
    expect(mac).toMatch(/^02:42:/);
    const inside = await engine.docker(["exec", id, "cat", "/sys/class/net/eth0/address"]);
    expect(inside.stdout.trim()).toBe(mac);
    expect((await leftovers(engine.dataRoot)).length).toBeGreaterThan(0);
    expect((await engine.docker(["rm", "-f", id])).code).toBe(0);
    expect(await leftovers(engine.dataRoot)).toEqual([]);
  });

  it("two containers on a user network reach each other by name; connect/disconnect on a running container plugs and unplugs a veth", async () => {
    expect((await engine.docker(["network", "create", "appnet"])).code).toBe(0);
    const web = await engine.docker(["run", "-d", "--name", "web", "--network", "appnet", busybox, "sh", "-c", "mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 80 -h /www"]);
    expect(web.code).toBe(0);
    // `docker run -d` answers before httpd listens: the client tries until it answers.
    const r = await engine.docker(["run", "--rm", "--name", "client", "--network", "appnet", busybox, "sh", "-c", "for i in $(seq 1 200); do wget -qO- http://web/ 2>/dev/null && exit 0; sleep 0.1; done; wget -qO- http://web/"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("hello from web\n");

    const other = (await engine.docker(["run", "-d", "--name", "other", busybox, "sleep", "600"])).stdout.trim();
    expect((await engine.docker(["exec", other, "ip", "link", "show", "eth1"])).code).not.toBe(0);
    expect((await engine.docker(["network", "connect", "appnet", "other"])).code).toBe(0);
    expect((await engine.docker(["exec", other, "ip", "link", "show", "eth1"])).code).toBe(0);
    const byName = await engine.docker(["exec", other, "wget", "-qO-", "http://web/"]);
    expect(byName.stdout).toBe("hello from web\n");
    expect((await engine.docker(["network", "disconnect", "appnet", "other"])).code).toBe(0);
    expect((await engine.docker(["exec", other, "ip", "link", "show", "eth1"])).code).not.toBe(0);
    expect((await engine.docker(["rm", "-f", "web", "other"])).code).toBe(0);
    expect((await engine.docker(["network", "rm", "appnet"])).code).toBe(0);
    expect(await leftovers(engine.dataRoot)).toEqual([]);
  });

  it("containers on different user networks cannot reach each other (Docker's isolation chains); one on both can; the default bridge is isolated too", async () => {
    expect((await engine.docker(["network", "create", "isoa"])).code).toBe(0);
    expect((await engine.docker(["network", "create", "isob"])).code).toBe(0);
    const srv = await engine.docker(["run", "-d", "--name", "isoweb", "--network", "isob", busybox, "sh", "-c", "mkdir -p /www && echo isolated > /www/index.html && exec httpd -f -p 80 -h /www"]);
    expect(srv.code).toBe(0);
    const ip = (await engine.docker(["inspect", "--format", "{{.NetworkSettings.Networks.isob.IPAddress}}", "isoweb"])).stdout.trim();
    const until = `for i in $(seq 1 200); do wget -qO- http://${ip}/ 2>/dev/null && exit 0; sleep 0.1; done; exit 1`;
    // From isob itself it answers (and this waits until httpd listens).
    expect((await engine.docker(["run", "--rm", "--network", "isob", busybox, "sh", "-c", until])).stdout).toBe("isolated\n");
    // Debian's static busybox 1.35 segfaults in `wget -T` (exit 139, even when the server answers): `nc -w` is the probe that can fail honestly.
    const probe = `echo probe | nc -w 2 ${ip} 80 >/dev/null && echo reached || echo blocked`;
    const fromA = await engine.docker(["run", "--rm", "--network", "isoa", busybox, "sh", "-c", `ip route; ${probe}`]);
    expect(fromA.stdout).toContain("default via");
    expect(fromA.stdout).toContain("blocked\n");
    const fromDefault = await engine.docker(["run", "--rm", busybox, "sh", "-c", probe]);
    expect(fromDefault.stdout).toBe("blocked\n");
    const both = await engine.docker(["run", "-d", "--name", "isoboth", "--network", "isoa", busybox, "sleep", "600"]);
    expect(both.code).toBe(0);
    expect((await engine.docker(["exec", "isoboth", "sh", "-c", probe])).stdout).toBe("blocked\n");
    expect((await engine.docker(["network", "connect", "isob", "isoboth"])).code).toBe(0);
    expect((await engine.docker(["exec", "isoboth", "sh", "-c", probe])).stdout).toBe("reached\n");
    expect((await engine.docker(["exec", "isoboth", "wget", "-qO-", `http://${ip}/`])).stdout).toBe("isolated\n");
    expect((await engine.docker(["rm", "-f", "isoweb", "isoboth"])).code).toBe(0);
    for (const n of ["isoa", "isob"]) expect((await engine.docker(["network", "rm", n])).code).toBe(0);
    const { tag } = datapathNames(engine.dataRoot);
    const filter = (await run("iptables", ["-w", "-t", "filter", "-S"])).stdout;
    expect(filter.split("\n").filter((l) => l.startsWith(`-A HTK-${tag}-ISO`) && l.includes("htk-net:")).length).toBe(2); // the default bridge's two
  });

  it("an internal network has no way out: the host's server is unreachable", async () => {
    expect((await engine.docker(["network", "create", "--internal", "closed"])).code).toBe(0);
    // `nc -w`, not `wget -T` (Debian's static busybox segfaults in the latter, which would pass as "unreachable").
    const r = await engine.docker(["run", "--rm", "--network", "closed", busybox, "sh", "-c", `ip -4 -o addr show eth0 >/dev/null && (echo x | nc -w 2 ${host} ${port} >/dev/null && echo reached || echo blocked)`]);
    expect(r.stdout).toBe("blocked\n");
    const open = await engine.docker(["run", "--rm", busybox, "sh", "-c", `echo x | nc -w 2 ${host} ${port} >/dev/null && echo reached || echo blocked`]);
    expect(open.stdout).toBe("reached\n");
    expect((await engine.docker(["network", "rm", "closed"])).code).toBe(0);
  });

  it("a build's RUN step (network default) reaches the host's server through the default bridge, and leaves nothing", async () => {
    const dir = await tempDir("netdp-build");
    writeFileSync(join(dir, "Dockerfile"), `FROM ${busybox}\nRUN ip -4 -o addr show eth0 > /addr && wget -qO /got http://${host}:${port}/ && cat /etc/resolv.conf > /resolv\n`);
    const b = await engine.docker(["build", "-q", "-t", "netdp/build", dir], { env: { DOCKER_BUILDKIT: "0" } });
    expect(b.stderr).not.toMatch(/error/i);
    expect(b.code).toBe(0);
    const r = await engine.docker(["run", "--rm", "netdp/build", "cat", "/addr", "/got", "/resolv"]);
    expect(r.stdout).toMatch(/eth0\s+inet \d+\.\d+\.\d+\.\d+\//);
    expect(r.stdout).toContain("from the host\n");
    expect(r.stdout).toMatch(/^nameserver /m);
    expect(await leftovers(engine.dataRoot)).toEqual([]);
    const { tag } = datapathNames(engine.dataRoot);
    expect((await run("ip", ["netns", "list"])).stdout).not.toContain(`htk-${tag}-`);
  });

  it("-p 127.0.0.1:PORT:80 serves busybox httpd on the host's loopback; -p PORT:80 on the host's address (DNAT); docker port and inspect show them; a taken port is Docker's error; stop releases them", async () => {
    const free = async (): Promise<number> => {
      const srv = createServer();
      await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
      const a = srv.address();
      await new Promise((r) => srv.close(r));
      return typeof a === "object" && a !== null ? a.port : 0;
    };
    const lo = await free();
    const any = await free();
    const cmd = ["sh", "-c", "mkdir -p /www && echo published > /www/index.html && exec httpd -f -p 80 -h /www"];
    const web = await engine.docker(["run", "-d", "--name", "pub", "-p", `127.0.0.1:${lo}:80`, "-p", `${any}:80`, "--expose", "81", busybox, ...cmd]);
    expect(web.stderr).toBe("");
    // `docker run -d` answers before httpd listens: ask until it does (at most ~20 s).
    const get = async (url: string): Promise<string> => {
      let last: unknown;
      for (let i = 0; i < 200; i++) {
        try {
          return await (await fetch(url)).text();
        } catch (err) {
          last = err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      throw last instanceof Error ? last : new Error(String(last));
    };
    expect(await get(`http://127.0.0.1:${lo}/`)).toBe("published\n");
    expect(await get(`http://${host}:${any}/`)).toBe("published\n");
    const port = await engine.docker(["port", "pub"]);
    // Docker 28: a binding without a host address is made on 0.0.0.0 and [::] (the same port).
    expect(port.stdout.split("\n").filter((l) => l !== "").sort()).toEqual([`80/tcp -> 0.0.0.0:${any}`, `80/tcp -> 127.0.0.1:${lo}`, `80/tcp -> [::]:${any}`].sort());
    const ports = JSON.parse((await engine.docker(["inspect", "--format", "{{json .NetworkSettings.Ports}}", "pub"])).stdout) as Record<string, unknown>;
    expect(ports["81/tcp"]).toBeNull();
    expect(ports["80/tcp"]).toEqual(expect.arrayContaining([{ HostIp: "127.0.0.1", HostPort: String(lo) }, { HostIp: "0.0.0.0", HostPort: String(any) }]));
    expect((await engine.docker(["ps", "--format", "{{.Ports}}", "--filter", "name=pub"])).stdout).toContain(`127.0.0.1:${lo}->80/tcp`);

    const taken = await engine.docker(["run", "-d", "--name", "pub2", "-p", `127.0.0.1:${lo}:80`, busybox, "sleep", "60"]);
    expect(taken.code).toBe(125);
    expect(taken.stderr).toMatch(new RegExp(`driver failed programming external connectivity on endpoint pub2 \\([0-9a-f]{64}\\): Bind for 127\\.0\\.0\\.1:${lo} failed: port is already allocated`));
    expect((await engine.docker(["rm", "-f", "pub2"])).code).toBe(0);

    const published = await engine.docker(["run", "-d", "--name", "pubP", "-P", "--expose", "80", busybox, ...cmd]);
    expect(published.code).toBe(0);
    const [p = "", p6 = ""] = (await engine.docker(["port", "pubP", "80"])).stdout.trim().split("\n");
    expect(p).toMatch(/^0\.0\.0\.0:\d+$/);
    expect(p6).toBe(`[::]:${p.split(":")[1] ?? ""}`);
    expect(await get(`http://${host}:${p.split(":")[1] ?? ""}/`)).toBe("published\n");

    expect((await engine.docker(["stop", "-t", "0", "pub"])).code).toBe(0);
    expect((await engine.docker(["port", "pub"])).stdout).toBe("");
    // The port is free again: a new container takes it.
    const again = await engine.docker(["run", "-d", "--name", "pub3", "-p", `127.0.0.1:${lo}:80`, busybox, ...cmd]);
    expect(again.code).toBe(0);
    expect((await engine.docker(["rm", "-f", "pub", "pub3", "pubP"])).code).toBe(0);
    expect(await leftovers(engine.dataRoot)).toEqual([]);
  });

  it("the start-up recovery removes a crashed engine's namespaces, veths and container rules (planted)", async () => {
    const datapath = engine.daemon.services.datapath;
    expect(datapath).toBeDefined();
    if (datapath === undefined) return;
    const names = datapath.names;
    const ghost = "deadbeef0000ffffffffffffffffffffffffffffffffffffffffffffffffffff";
    await datapath.createNamespace(ghost);
    await run("ip", ["link", "add", "name", names.veth("ghost1"), "type", "veth", "peer", "name", "eth0", "netns", names.netns(ghost)]);
    await run("ip", ["link", "add", "name", names.veth("ghost2"), "type", "veth", "peer", "name", `${names.veth("ghost2")}p`]);
    await datapath.addContainerRule(ghost, "nat", "dnat", ["-p", "tcp", "--dport", "1", "-j", "DNAT", "--to-destination", "10.0.0.1:1"]);
    expect((await leftovers(engine.dataRoot)).length).toBeGreaterThanOrEqual(3);
    await datapath.recover(new Set());
    expect(await leftovers(engine.dataRoot)).toEqual([]);
  });
});

describe("engines whose data root is gone", () => {
  it("a starting engine removes the bridges, veths and chains of an engine whose data root no longer exists, and nothing of a live one", async () => {
    const gone = "/nonexistent/htk-netdp-gone";
    const { tag } = datapathNames(gone);
    mkdirSync("/run/hatake/owners", { recursive: true });
    writeFileSync(`/run/hatake/owners/${tag}`, gone);
    await run("ip", ["link", "add", "name", `hb${tag}zz`, "type", "bridge"]);
    await run("iptables", ["-w", "-t", "nat", "-N", `HTK-${tag}-POST`]);
    await run("iptables", ["-w", "-t", "nat", "-A", "POSTROUTING", "-j", `HTK-${tag}-POST`]);
    const live = await startTestEngine();
    try {
      expect(await anything(gone)).toEqual([]);
      expect((await anything(live.dataRoot)).length).toBeGreaterThan(0);
    } finally {
      await live.stop();
    }
  });
});


describe("bridge networking after kill -9 of the engine", () => {
  const busybox = inject("busybox").reference;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      c.kill("SIGTERM");
      await new Promise((r) => c.once("exit", r));
    }
  });

  it("a container that ended while the engine was dead leaves nothing once the engine is back; the engine's stop leaves nothing at all", async () => {
    const root = await tempDir("netdp-restore");
    const dataRoot = join(root, "data");
    const socket = join(root, "docker.sock");
    const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, "docker-config") };
    const docker = (args: string[]): Promise<RunResult> => run("docker", args, { env, timeoutMs: 60_000 });
    const first = await startEngineChild(dataRoot, socket);
    children.push(first);
    expect((await docker(["pull", "-q", busybox])).code).toBe(0);
    const dying = await docker(["run", "-d", "-i", "--name", "dying", busybox, "sh", "-c", "read x; exit 3"]);
    expect(dying.code).toBe(0);
    expect((await leftovers(dataRoot)).length).toBeGreaterThan(0);
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    // Its stdin FIFO went with the engine: the container reads end-of-file and ends; its namespace stays.
    expect((await leftovers(dataRoot)).length).toBeGreaterThan(0);

    const second = await startEngineChild(dataRoot, socket);
    children.push(second);
    for (let i = 0; i < 100 && (await docker(["inspect", "--format", "{{.State.Status}}", "dying"])).stdout.trim() !== "exited"; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await leftovers(dataRoot)).toEqual([]);
    second.kill("SIGTERM");
    await new Promise((r) => second.once("exit", r));
    expect(await anything(dataRoot)).toEqual([]);
  });
});
