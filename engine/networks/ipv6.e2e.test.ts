import type { ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { run, tempDir, type RunResult } from "../../testing/index.ts";
import { resolveConfig } from "../daemon/config.ts";
import { startEngineChild, startTestEngine, type TestEngine } from "../e2e/harness.ts";
import { datapathNames } from "./datapath.ts";

/** A random ULA /64 (fd42:xxxx:xxxx::/64) and its prefix before "::": tests on one host never share one. */
function ula(): { subnet: string; prefix: string } {
  const hex = (): string => Math.floor(Math.random() * 0xffff).toString(16);
  const prefix = `fd42:${hex()}:${hex()}`;
  return { subnet: `${prefix}::/64`, prefix };
}

/** The host's first global IPv6 address (eth0's here), if it has one. */
function hostAddress6(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv6" && !a.internal && !a.address.startsWith("fe80")) return a.address;
  }
  return undefined;
}

/** Lines of `ip6tables-save` (nat and filter) naming this engine's tag. */
async function rules6(dataRoot: string): Promise<string[]> {
  const { tag } = datapathNames(dataRoot);
  return (await run("ip6tables-save", [])).stdout.split("\n").filter((l) => l.includes(tag));
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const a = srv.address();
  await new Promise((r) => srv.close(r));
  return typeof a === "object" && a !== null ? a.port : 0;
}

/** curl -g (IPv6 literals) until it answers: `docker run -d` returns before httpd listens. */
async function curl(url: string): Promise<RunResult> {
  let r = await run("curl", ["-gsS", "--max-time", "5", url]);
  for (let i = 0; i < 100 && r.code !== 0; i++) {
    await new Promise((res) => setTimeout(res, 100));
    r = await run("curl", ["-gsS", "--max-time", "5", url]);
  }
  return r;
}

const httpd = (text: string): string[] => ["sh", "-c", `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];

describe("IPv6 as Docker 28 does it, with the docker CLI", () => {
  let engine: TestEngine;
  const busybox = inject("busybox").reference;

  beforeAll(async () => {
    engine = await startTestEngine();
    expect((await engine.docker(["pull", "-q", busybox])).code).toBe(0);
  });
  afterAll(async () => {
    const dataRoot = engine.dataRoot;
    await engine.stop();
    expect(await rules6(dataRoot)).toEqual([]);
  });

  it("an --ipv6 network: forwarding on, ip6tables MASQUERADE and isolation rules; two containers reach each other over IPv6 by name (ping -6) and by address (wget)", async () => {
    const { subnet, prefix } = ula();
    const created = await engine.docker(["network", "create", "--ipv6", "--subnet", subnet, "v6a"]);
    expect(created.stderr).toBe("");
    const id = created.stdout.trim().slice(0, 12);
    expect(readFileSync("/proc/sys/net/ipv6/conf/all/forwarding", "utf8").trim()).toBe("1");
    const r6 = await rules6(engine.dataRoot);
    const { natPost, filterIsolation1, filterForward } = datapathNames(engine.dataRoot);
    expect(r6.some((l) => l.startsWith(`-A ${natPost} -s ${subnet}`) && l.includes(`htk-net:${id}`) && l.endsWith("-j MASQUERADE"))).toBe(true);
    expect(r6.some((l) => l.startsWith(`-A ${filterIsolation1} -i `) && l.includes(`htk-net:${id}`))).toBe(true);
    expect(r6.some((l) => l.startsWith(`-A ${filterForward} -i `) && l.endsWith("-j ACCEPT"))).toBe(true);

    expect((await engine.docker(["run", "-d", "--name", "web6", "--network", "v6a", busybox, ...httpd("over-ipv6")])).code).toBe(0);
    const addr = (await engine.docker(["inspect", "--format", "{{.NetworkSettings.Networks.v6a.GlobalIPv6Address}}", "web6"])).stdout.trim();
    expect(addr.startsWith(`${prefix}::`)).toBe(true);
    const r = await engine.docker(["run", "--rm", "--network", "v6a", busybox, "sh", "-c", `ping -6 -c 1 -W 5 web6 && for i in $(seq 1 100); do wget -qO- "http://[${addr}]/" 2>/dev/null && exit 0; sleep 0.1; done; exit 1`]);
    expect(r.stdout).toContain(`${addr}`);
    expect(r.stdout).toContain("1 packets received");
    expect(r.stdout).toContain("over-ipv6\n");
    expect(r.code).toBe(0);
    expect((await engine.docker(["rm", "-f", "web6"])).code).toBe(0);
    expect((await engine.docker(["network", "rm", "v6a"])).code).toBe(0);
    expect((await rules6(engine.dataRoot)).filter((l) => l.includes(`htk-net:${id}`))).toEqual([]);
  });

  it("--ipv6 without --subnet takes a /64 of the engine's ULA prefix (Docker 27+); a container gets an address in it", async () => {
    const created = await engine.docker(["network", "create", "--ipv6", "v6auto"]);
    expect(created.stderr).toBe("");
    const subnet = (await engine.docker(["network", "inspect", "v6auto", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"])).stdout.trim().split(" ").find((s) => s.includes(":")) ?? "";
    expect(subnet).toMatch(/^fd[0-9a-f]{2}:[0-9a-f:]+\/64$/);
    const r = await engine.docker(["run", "--rm", "--network", "v6auto", busybox, "ip", "-6", "-o", "addr", "show", "eth0", "scope", "global"]);
    expect(r.stdout).toContain(`inet6 ${subnet.replace(/::\/64$/, "::2/64")}`);
    expect((await engine.docker(["network", "rm", "v6auto"])).code).toBe(0);
  });

  it("two --ipv6 networks are isolated over IPv6 too (ip6tables isolation chains); --internal drops what leaves it", async () => {
    const a = ula();
    const b = ula();
    expect((await engine.docker(["network", "create", "--ipv6", "--subnet", a.subnet, "v6isoa"])).code).toBe(0);
    expect((await engine.docker(["network", "create", "--ipv6", "--subnet", b.subnet, "v6isob"])).code).toBe(0);
    expect((await engine.docker(["run", "-d", "--name", "v6isoweb", "--network", "v6isob", busybox, ...httpd("isolated6")])).code).toBe(0);
    const addr = (await engine.docker(["inspect", "--format", "{{.NetworkSettings.Networks.v6isob.GlobalIPv6Address}}", "v6isoweb"])).stdout.trim();
    const until = `for i in $(seq 1 100); do wget -qO- "http://[${addr}]/" 2>/dev/null && exit 0; sleep 0.1; done; exit 1`;
    expect((await engine.docker(["run", "--rm", "--network", "v6isob", busybox, "sh", "-c", until])).stdout).toBe("isolated6\n");
    // `nc -w` (Debian's static busybox segfaults in `wget -T`).
    const probe = `echo probe | nc -w 2 ${addr} 80 >/dev/null && echo reached || echo blocked`;
    const fromA = await engine.docker(["run", "--rm", "--network", "v6isoa", busybox, "sh", "-c", `ip -6 route; ${probe}`]);
    expect(fromA.stdout).toContain("default via");
    expect(fromA.stdout).toContain("blocked\n");

    const c = ula();
    const created = await engine.docker(["network", "create", "--ipv6", "--internal", "--subnet", c.subnet, "v6closed"]);
    const id = created.stdout.trim().slice(0, 12);
    const r6 = await rules6(engine.dataRoot);
    expect(r6.filter((l) => l.includes(`htk-net:${id}`) && l.endsWith("-j DROP")).length).toBe(3); // isolation + in + out
    expect(r6.some((l) => l.includes(`htk-net:${id}`) && l.endsWith("-j MASQUERADE"))).toBe(false);
    expect((await engine.docker(["rm", "-f", "v6isoweb"])).code).toBe(0);
    for (const n of ["v6isoa", "v6isob", "v6closed"]) expect((await engine.docker(["network", "rm", n])).code).toBe(0);
  });

  it("-p PORT:80 binds 0.0.0.0 and [::] (docker port lists both); [::1] reaches an IPv6 container through the relay, the host's IPv6 address through ip6tables DNAT", async () => {
    const { subnet } = ula();
    expect((await engine.docker(["network", "create", "--ipv6", "--subnet", subnet, "v6pub"])).code).toBe(0);
    const port = await freePort();
    const web = await engine.docker(["run", "-d", "--name", "pub6", "--network", "v6pub", "-p", `${port}:80`, busybox, ...httpd("published6")]);
    expect(web.stderr).toBe("");
    const lines = (await engine.docker(["port", "pub6"])).stdout.split("\n").filter((l) => l !== "");
    expect(lines).toEqual([`80/tcp -> 0.0.0.0:${port}`, `80/tcp -> [::]:${port}`]);
    const ports = JSON.parse((await engine.docker(["inspect", "--format", "{{json .NetworkSettings.Ports}}", "pub6"])).stdout) as Record<string, unknown>;
    expect(ports["80/tcp"]).toEqual([
      { HostIp: "0.0.0.0", HostPort: String(port) },
      { HostIp: "::", HostPort: String(port) },
    ]);
    expect((await curl(`http://[::1]:${port}/`)).stdout).toBe("published6\n");
    const addr6 = (await engine.docker(["inspect", "--format", "{{.NetworkSettings.Networks.v6pub.GlobalIPv6Address}}", "pub6"])).stdout.trim();
    expect((await rules6(engine.dataRoot)).some((l) => l.includes("htk-ctr:") && l.includes(`--to-destination [${addr6}]:80`))).toBe(true);
    const host6 = hostAddress6();
    if (host6 !== undefined) expect((await curl(`http://[${host6}]:${port}/`)).stdout).toBe("published6\n");
    expect((await engine.docker(["rm", "-f", "pub6"])).code).toBe(0);
    expect((await rules6(engine.dataRoot)).filter((l) => l.includes("htk-ctr:"))).toEqual([]);
    expect((await engine.docker(["network", "rm", "v6pub"])).code).toBe(0);
  });

  it("an IPv4-only container: -p PORT:80 is reachable at [::1] (the relay forwards to its IPv4 address, as docker-proxy); -p [::1]:PORT:80 binds IPv6 loopback only", async () => {
    const port = await freePort();
    const lo6 = await freePort();
    const web = await engine.docker(["run", "-d", "--name", "pub4", "-p", `${port}:80`, "-p", `[::1]:${lo6}:80`, busybox, ...httpd("from-v4-only")]);
    expect(web.stderr).toBe("");
    const lines = (await engine.docker(["port", "pub4"])).stdout.split("\n").filter((l) => l !== "");
    expect(lines.sort()).toEqual([`80/tcp -> 0.0.0.0:${port}`, `80/tcp -> [::1]:${lo6}`, `80/tcp -> [::]:${port}`].sort());
    expect((await curl(`http://[::1]:${port}/`)).stdout).toBe("from-v4-only\n");
    expect((await curl(`http://127.0.0.1:${port}/`)).stdout).toBe("from-v4-only\n");
    expect((await curl(`http://[::1]:${lo6}/`)).stdout).toBe("from-v4-only\n");
    expect((await run("curl", ["-gsS", "--max-time", "2", `http://127.0.0.1:${lo6}/`])).code).not.toBe(0);
    expect((await rules6(engine.dataRoot)).filter((l) => l.includes("htk-ctr:"))).toEqual([]);
    expect((await engine.docker(["rm", "-f", "pub4"])).code).toBe(0);
  });
});

describe("the default bridge with daemon.json ipv6 and fixed-cidr-v6", () => {
  const busybox = inject("busybox").reference;

  it("inspect shows EnableIPv6 and the subnet; containers get an address in it, reach each other over IPv6, and -p reaches one over [::1] by ip6tables DNAT's address", async () => {
    const dir = await tempDir("v6-daemon-json");
    const { subnet, prefix } = ula();
    const configFile = join(dir, "daemon.json");
    writeFileSync(configFile, JSON.stringify({ ipv6: true, "fixed-cidr-v6": subnet }));
    const engine = await startTestEngine({ flags: { configFile } });
    try {
      expect((await engine.docker(["pull", "-q", busybox])).code).toBe(0);
      const net = JSON.parse((await engine.docker(["network", "inspect", "bridge"])).stdout) as Array<{ EnableIPv6: boolean; IPAM: { Config: Array<{ Subnet: string; Gateway?: string }> } }>;
      expect(net[0]?.EnableIPv6).toBe(true);
      expect(net[0]?.IPAM.Config).toContainEqual({ Subnet: subnet, Gateway: `${prefix}::1` });
      const port = await freePort();
      expect((await engine.docker(["run", "-d", "--name", "defweb", "-p", `${port}:80`, busybox, ...httpd("default-bridge-v6")])).code).toBe(0);
      const addr = (await engine.docker(["inspect", "--format", "{{.NetworkSettings.GlobalIPv6Address}} {{.NetworkSettings.Networks.bridge.GlobalIPv6Address}}", "defweb"])).stdout.trim().split(" ");
      expect(addr[0]?.startsWith(`${prefix}::`)).toBe(true);
      expect(addr[1]).toBe(addr[0]);
      const r = await engine.docker(["run", "--rm", busybox, "sh", "-c", `ping -6 -c 1 -W 5 ${addr[0] ?? ""} && for i in $(seq 1 100); do wget -qO- "http://[${addr[0] ?? ""}]/" 2>/dev/null && exit 0; sleep 0.1; done; exit 1`]);
      expect(r.stdout).toContain("default-bridge-v6\n");
      expect((await curl(`http://[::1]:${port}/`)).stdout).toBe("default-bridge-v6\n");
      expect((await rules6(engine.dataRoot)).some((l) => l.includes(`--to-destination [${addr[0] ?? ""}]:80`))).toBe(true);
      expect((await engine.docker(["rm", "-f", "defweb"])).code).toBe(0);
    } finally {
      const dataRoot = engine.dataRoot;
      await engine.stop();
      expect(await rules6(dataRoot)).toEqual([]);
    }
  });

  it("HTK-ENGINE-0004: ipv6 without fixed-cidr-v6 is refused when the config is read", () => {
    const dir = `/tmp/htk-v6-config-${process.pid}`;
    writeFileSync(`${dir}.json`, JSON.stringify({ ipv6: true }));
    let err: unknown;
    try {
      resolveConfig({ configFile: `${dir}.json` }, {});
    } catch (e) {
      err = e;
    }
    expect(isHtkError(err, "HTK-ENGINE-0004")).toBe(true);
  });
});

describe('daemon.json "ip6tables": false', () => {
  const busybox = inject("busybox").reference;

  it("-p PORT:80 on an --ipv6 network: the container starts (no ip6tables rule is made), docker port lists [::], and [::1]:PORT answers through the relay", async () => {
    const dir = await tempDir("v6-no-ip6tables");
    const configFile = join(dir, "daemon.json");
    writeFileSync(configFile, JSON.stringify({ ip6tables: false }));
    const engine = await startTestEngine({ flags: { configFile } });
    try {
      expect((await engine.docker(["pull", "-q", busybox])).code).toBe(0);
      const { subnet } = ula();
      expect((await engine.docker(["network", "create", "--ipv6", "--subnet", subnet, "v6noipt"])).code).toBe(0);
      const port = await freePort();
      const web = await engine.docker(["run", "-d", "--name", "noipt", "--network", "v6noipt", "-p", `${port}:80`, busybox, ...httpd("no-ip6tables")]);
      expect(web.stderr).toBe("");
      expect(web.code).toBe(0);
      const lines = (await engine.docker(["port", "noipt"])).stdout.split("\n").filter((l) => l !== "");
      expect(lines).toEqual([`80/tcp -> 0.0.0.0:${port}`, `80/tcp -> [::]:${port}`]);
      expect((await curl(`http://[::1]:${port}/`)).stdout).toBe("no-ip6tables\n");
      expect((await curl(`http://127.0.0.1:${port}/`)).stdout).toBe("no-ip6tables\n");
      expect(await rules6(engine.dataRoot)).toEqual([]);
      expect((await engine.docker(["rm", "-f", "noipt"])).code).toBe(0);
      expect((await engine.docker(["network", "rm", "v6noipt"])).code).toBe(0);
    } finally {
      await engine.stop();
    }
  });
});

describe("IPv6 after kill -9 of the engine", () => {
  const busybox = inject("busybox").reference;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      c.kill("SIGTERM");
      await new Promise((r) => c.once("exit", r));
    }
  });

  it("a restarted engine cleans its ip6tables rules up; an engine killed and never restarted is swept by the next engine once nothing of it runs", async () => {
    const root = await tempDir("v6-restore");
    const dataRoot = join(root, "data");
    const socket = join(root, "docker.sock");
    const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, "docker-config") };
    const docker = (args: string[]): Promise<RunResult> => run("docker", args, { env, timeoutMs: 60_000 });
    const first = await startEngineChild(dataRoot, socket);
    children.push(first);
    expect((await docker(["pull", "-q", busybox])).code).toBe(0);
    expect((await docker(["network", "create", "--ipv6", "--subnet", ula().subnet, "v6k"])).code).toBe(0);
    const port = await freePort();
    expect((await docker(["run", "-d", "-i", "--name", "dying6", "--network", "v6k", "-p", `${port}:80`, busybox, "sh", "-c", "read x; exit 3"])).code).toBe(0);
    expect((await rules6(dataRoot)).some((l) => l.includes("htk-ctr:"))).toBe(true);
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));

    const second = await startEngineChild(dataRoot, socket);
    children.push(second);
    for (let i = 0; i < 100 && (await docker(["inspect", "--format", "{{.State.Status}}", "dying6"])).stdout.trim() !== "exited"; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await rules6(dataRoot)).filter((l) => l.includes("htk-ctr:"))).toEqual([]);
    expect((await docker(["rm", "-f", "dying6"])).code).toBe(0);
    expect((await rules6(dataRoot)).some((l) => l.includes("htk-net:"))).toBe(true);
    const { tag } = datapathNames(dataRoot);
    expect(readFileSync(`/run/hatake/owners/${tag}`, "utf8")).toBe(dataRoot);
    // Killed again with its --ipv6 network and no container: its data root stays, nothing of it runs.
    // (Any engine starting on this host from now on may sweep it: nothing is asserted in between.)
    second.kill("SIGKILL");
    await new Promise((r) => second.once("exit", r));

    const other = await startTestEngine();
    try {
      expect(await rules6(dataRoot)).toEqual([]);
      expect((await run("iptables-save", [])).stdout).not.toContain(`HTK-${tag}-`);
      expect((await run("ip", ["-o", "link", "show"])).stdout).not.toContain(`hb${tag}`);
    } finally {
      await other.stop();
    }
  });
});
