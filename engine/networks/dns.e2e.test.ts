import type { ChildProcess } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { createServer } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { run, tempDir, type RunResult } from "../../testing/index.ts";
import { killContainerProcesses, startEngineChild, startTestEngine, type TestEngine } from "../e2e/harness.ts";
import { datapathNames } from "./datapath.ts";
import { encodeResponse, parseQuery, RCODE_NOERROR, RCODE_NXDOMAIN, TYPE_A } from "./dns-message.ts";

/** A /24 that no other engine on this host is likely to use (tests run several engines at once). */
function randomSubnet(): string {
  return `10.${100 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 250)}.0/24`;
}

/**
 * A DNS server for the test on a loopback address of the host (no internet here): `outside.test`
 * is 192.0.2.44, everything else NXDOMAIN. Containers reach it only through the engine's forwarding
 * (a loopback server is unreachable from their namespaces).
 */
async function startUpstream(): Promise<{ address: string; asked: string[]; close(): void }> {
  const address = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  const asked: string[] = [];
  const sock: Socket = createSocket("udp4");
  sock.on("message", (msg, rinfo) => {
    const q = parseQuery(msg);
    if (!q.ok) return;
    asked.push(q.query.question.name);
    const hit = q.query.question.name === "outside.test" && q.query.question.type === TYPE_A;
    const reply = encodeResponse(q.query, {
      rcode: hit || q.query.question.name === "outside.test" ? RCODE_NOERROR : RCODE_NXDOMAIN,
      answers: hit ? [{ type: TYPE_A, address: Buffer.from([192, 0, 2, 44]) }] : [],
      recursionAvailable: true,
    });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(53, address, resolve));
  return { address, asked, close: () => sock.close() };
}

/** What this engine left on the host: veths, namespaces, container rules (as datapath.e2e.test.ts). */
async function leftovers(dataRoot: string): Promise<string[]> {
  const { tag } = datapathNames(dataRoot);
  const out: string[] = [];
  for (const l of (await run("ip", ["-o", "link", "show"])).stdout.split("\n")) if (l.includes(`hv${tag}`)) out.push(`link ${l.trim()}`);
  for (const l of (await run("ip", ["netns", "list"])).stdout.split("\n")) if (l.startsWith(`htk-${tag}-`)) out.push(`netns ${l}`);
  for (const table of ["nat", "filter"]) {
    for (const l of (await run("iptables", ["-w", "-t", table, "-S"])).stdout.split("\n")) if (l.includes(`HTK-${tag}`) && l.includes("htk-ctr:")) out.push(`${table} ${l}`);
  }
  return out;
}

/** UDP/TCP sockets the engine process listens on at one of `addresses` (its DNS listeners). */
async function listenersOn(addresses: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const l of (await run("ss", ["-H", "-lnut"])).stdout.split("\n")) if (addresses.some((a) => l.includes(` ${a}:`))) out.push(l.trim());
  return out;
}

const WAIT_HTTPD = "for i in $(seq 1 200); do wget -qO- http://$0/ 2>/dev/null && exit 0; sleep 0.1; done; exit 1";

describe("embedded DNS on user-defined networks with the docker CLI", () => {
  let engine: TestEngine;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const busybox = inject("busybox").reference;

  beforeAll(async () => {
    engine = await startTestEngine();
    upstream = await startUpstream();
    expect((await engine.docker(["pull", "-q", busybox])).code).toBe(0);
    for (const n of ["dnsa", "dnsb"]) expect((await engine.docker(["network", "create", "--subnet", randomSubnet(), n])).code).toBe(0);
    const web = await engine.docker(["run", "-d", "--name", "web", "--network", "dnsa", "--network-alias", "frontend", busybox, "sh", "-c", "mkdir -p /www && echo hello from web > /www/index.html && httpd -p 80 -h /www && exec nc -ll -p 7000 -e echo pong"]);
    expect(web.stderr).toBe("");
    expect((await engine.docker(["run", "-d", "--name", "lonely", "--network", "dnsb", "--dns", upstream.address, busybox, "sleep", "600"])).code).toBe(0);
  });
  afterAll(async () => {
    upstream.close();
    await engine.stop();
  });

  it("names, aliases, short IDs and name.network resolve through 127.0.0.11 (nslookup, wget, nc); /etc/hosts has no peers", async () => {
    const ip = (await engine.docker(["inspect", "--format", "{{.NetworkSettings.Networks.dnsa.IPAddress}}", "web"])).stdout.trim();
    const id = (await engine.docker(["inspect", "--format", "{{.Id}}", "web"])).stdout.trim().slice(0, 12);
    const script = [
      "cat /etc/resolv.conf",
      "echo ---hosts; cat /etc/hosts; echo ---",
      `sh -c '${WAIT_HTTPD}' web`,
      "nslookup web",
      "nslookup frontend",
      `nslookup ${id}`,
      "nslookup web.dnsa",
      "wget -qO- http://frontend/",
      "echo hi | nc frontend 7000",
    ].join(" && ");
    const r = await engine.docker(["run", "--rm", "--network", "dnsa", "--dns", upstream.address, busybox, "sh", "-c", script]);
    // The CLI warns about a loopback --dns server (it cannot know the engine forwards from the host).
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^nameserver 127\.0\.0\.11$/m);
    expect(r.stdout).not.toMatch(new RegExp(`^nameserver ${upstream.address}`, "m"));
    expect(r.stdout).toContain(`# ExtServers: [host(${upstream.address})]`);
    const hosts = r.stdout.split("---hosts\n")[1]?.split("---")[0] ?? "";
    expect(hosts).not.toContain("web");
    // Four lookups, each naming web's address.
    expect(r.stdout.split(`Address: ${ip}`).length - 1).toBe(4);
    expect(r.stdout).toContain("hello from web\n");
    expect(r.stdout).toContain("pong\n");
  });

  it("a name on another network does not resolve; host names are forwarded to --dns (a loopback server, reached from the host)", async () => {
    const r = await engine.docker(["run", "--rm", "--network", "dnsa", "--dns", upstream.address, busybox, "sh", "-c", "nslookup lonely; echo rc=$?; nslookup outside.test"]);
    expect(r.stdout).toMatch(/can't find lonely/);
    expect(r.stdout).toContain("rc=1");
    expect(r.stdout).toContain("Address: 192.0.2.44");
    expect(upstream.asked).toContain("outside.test");
    // lonely's own network answers it.
    const own = await engine.docker(["exec", "lonely", "nslookup", "lonely"]);
    expect(own.code).toBe(0);
  });

  it("an internal network answers its containers' names but forwards nothing (REFUSED)", async () => {
    expect((await engine.docker(["network", "create", "--internal", "--subnet", randomSubnet(), "dnsin"])).code).toBe(0);
    expect((await engine.docker(["run", "-d", "--name", "inner", "--network", "dnsin", busybox, "sleep", "600"])).code).toBe(0);
    const before = upstream.asked.length;
    const r = await engine.docker(["run", "--rm", "--network", "dnsin", "--dns", upstream.address, busybox, "sh", "-c", "nslookup inner && ! nslookup outside.test"]);
    expect(r.stdout).toMatch(/Name:\s+inner/);
    expect(r.code).toBe(0);
    expect(upstream.asked.length).toBe(before);
    expect((await engine.docker(["rm", "-f", "inner"])).code).toBe(0);
    expect((await engine.docker(["network", "rm", "dnsin"])).code).toBe(0);
  });

  it("--dns-search, --dns-option, --hostname and --add-host with the embedded server; --dns on the default bridge is written as is", async () => {
    const user = await engine.docker(["run", "--rm", "--network", "dnsa", "--dns-search", "corp.example", "--dns-option", "timeout:2", busybox, "cat", "/etc/resolv.conf"]);
    expect(user.stdout).toMatch(/^nameserver 127\.0\.0\.11$/m);
    expect(user.stdout).toMatch(/^search corp\.example$/m);
    expect(user.stdout).toMatch(/^options timeout:2 ndots:0$/m);
    const named = await engine.docker(["run", "--rm", "--network", "dnsa", "--hostname", "hh", "--add-host", "extra.example:192.0.2.7", busybox, "sh", "-c", "hostname; cat /etc/hosts; nslookup hh"]);
    expect(named.stdout).toMatch(/^hh$/m);
    expect(named.stdout).toMatch(/^192\.0\.2\.7\textra\.example$/m);
    expect(named.stdout).toMatch(/^10\.\d+\.\d+\.\d+\thh$/m);
    // The hostname is one of the container's DNSNames: the embedded server answers it too.
    expect(named.stdout).toMatch(/Name:\s+hh/);
    const def = await engine.docker(["run", "--rm", "--dns", "192.0.2.53", "--dns-search", "corp.example", busybox, "cat", "/etc/resolv.conf"]);
    expect(def.stdout).toMatch(/^nameserver 192\.0\.2\.53$/m);
    expect(def.stdout).not.toContain("127.0.0.11");
    expect(def.stdout).toMatch(/^search corp\.example$/m);
  });

  it("an --ipv6 network: containers get an address of its IPv6 subnet (inspect shows it), AAAA records, and reach each other over IPv6", async () => {
    const hex = (): string => Math.floor(Math.random() * 0xffff).toString(16);
    const subnet = `fd42:${hex()}:${hex()}::/64`;
    const created = await engine.docker(["network", "create", "--ipv6", "--subnet", subnet, "dnsv6"]);
    expect(created.stderr).toBe("");
    expect((await engine.docker(["run", "-d", "--name", "web6", "--network", "dnsv6", busybox, "sh", "-c", "mkdir -p /www && echo over ipv6 > /www/index.html && exec httpd -f -p 80 -h /www"])).code).toBe(0);
    const v6 = (await engine.docker(["inspect", "--format", "{{.NetworkSettings.Networks.dnsv6.GlobalIPv6Address}} {{.NetworkSettings.Networks.dnsv6.IPv6Gateway}}", "web6"])).stdout.trim();
    const [addr = "", gw = ""] = v6.split(" ");
    const prefix = subnet.split("::")[0] ?? "";
    expect(addr.startsWith(`${prefix}::`)).toBe(true);
    expect(gw).toBe(`${prefix}::1`);
    const r = await engine.docker(["run", "--rm", "--network", "dnsv6", busybox, "sh", "-c", `ip -6 -o addr show eth0 scope global; nslookup -type=AAAA web6; for i in $(seq 1 100); do wget -qO- "http://[${addr}]/" 2>/dev/null && exit 0; sleep 0.1; done; exit 1`]);
    expect(r.stdout).toContain(`inet6 ${prefix}::`);
    expect(r.stdout).toContain(`Address: ${addr}`);
    expect(r.stdout).toContain("over ipv6\n");
    expect(r.code).toBe(0);
    expect((await engine.docker(["rm", "-f", "web6"])).code).toBe(0);
    expect((await engine.docker(["network", "rm", "dnsv6"])).code).toBe(0);
  });

  it("connect to a second network: its peers resolve too; network rm closes its resolver", async () => {
    expect((await engine.docker(["network", "connect", "dnsb", "web"])).code).toBe(0);
    expect((await engine.docker(["exec", "web", "nslookup", "lonely"])).code).toBe(0);
    expect((await engine.docker(["exec", "lonely", "nslookup", "frontend"])).code).not.toBe(0);
    expect((await engine.docker(["exec", "lonely", "nslookup", "web"])).code).toBe(0);
    expect((await engine.docker(["network", "disconnect", "dnsb", "web"])).code).toBe(0);
    expect((await engine.docker(["exec", "lonely", "nslookup", "web"])).code).not.toBe(0);

    const gw = (await engine.docker(["network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", "dnsb"])).stdout.trim();
    expect(await listenersOn([gw])).not.toEqual([]);
    expect((await engine.docker(["rm", "-f", "lonely"])).code).toBe(0);
    expect((await engine.docker(["network", "rm", "dnsb"])).code).toBe(0);
    expect(await listenersOn([gw])).toEqual([]);
  });
});

describe("kill -9 of the engine during docker run -p on a user network", () => {
  const busybox = inject("busybox").reference;
  const children: ChildProcess[] = [];
  const ids: string[] = [];
  afterAll(async () => {
    killContainerProcesses(ids);
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      c.kill("SIGTERM");
      await new Promise((r) => c.once("exit", r));
    }
  });

  it("the restarted engine leaves no stale NAT rule, veth, namespace, DNS listener or mount; a container that lived on resolves again", async () => {
    const root = await tempDir("netdns-kill");
    const dataRoot = join(root, "data");
    const socket = join(root, "docker.sock");
    const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, "docker-config") };
    const docker = (args: string[], timeoutMs = 60_000): Promise<RunResult> => run("docker", args, { env, timeoutMs });
    const free = async (): Promise<number> => {
      const srv = createServer();
      await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
      const a = srv.address();
      await new Promise((r) => srv.close(r));
      return typeof a === "object" && a !== null ? a.port : 0;
    };
    const first = await startEngineChild(dataRoot, socket);
    children.push(first);
    expect((await docker(["pull", "-q", busybox])).code).toBe(0);
    expect((await docker(["network", "create", "--subnet", randomSubnet(), "killnet"])).code).toBe(0);
    const gw = (await docker(["network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", "killnet"])).stdout.trim();
    const keeper = (await docker(["run", "-d", "--name", "keeper", "--network", "killnet", busybox, "sleep", "600"])).stdout.trim();
    ids.push(keeper);
    const web = (await docker(["run", "-d", "--name", "web", "--network", "killnet", busybox, "sleep", "600"])).stdout.trim();
    ids.push(web);
    expect((await docker(["exec", "keeper", "nslookup", "web"])).code).toBe(0);

    // The attached `docker run -p` is in the middle of its run when the engine dies.
    const port = await free();
    const attached = run("docker", ["run", "--name", "pub", "--network", "killnet", "-p", `${port}:80`, "-p", `127.0.0.1:${await free()}:81`, busybox, "sh", "-c", "echo up; sleep 2"], { env, timeoutMs: 60_000 });
    let pubId = "";
    for (let i = 0; i < 200 && pubId === ""; i++) {
      const s = await docker(["inspect", "--format", "{{.State.Running}} {{.Id}}", "pub"]);
      if (s.stdout.startsWith("true ")) pubId = s.stdout.trim().split(" ")[1] ?? "";
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(pubId).not.toBe("");
    ids.push(pubId);
    const tag = datapathNames(dataRoot).tag;
    expect((await run("iptables", ["-w", "-t", "nat", "-S"])).stdout).toContain(`htk-ctr:${pubId.slice(0, 12)}`);
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    await attached;
    // pub ends (sleep 2) while the engine is dead.
    for (let i = 0; i < 100 && readFileSync("/proc/mounts", "utf8").includes(pubId) && existsCgroup(pubId); i++) await new Promise((r) => setTimeout(r, 100));

    const second = await startEngineChild(dataRoot, socket);
    children.push(second);
    for (let i = 0; i < 100 && (await docker(["inspect", "--format", "{{.State.Status}}", "pub"])).stdout.trim() !== "exited"; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await docker(["inspect", "--format", "{{.State.Status}}", "pub"])).stdout.trim()).toBe("exited");
    const nat = (await run("iptables", ["-w", "-t", "nat", "-S"])).stdout;
    expect(nat).not.toContain(`htk-ctr:${pubId.slice(0, 12)}`);
    expect((await run("ip", ["netns", "list"])).stdout).not.toContain(`htk-${tag}-${pubId.slice(0, 12)}`);
    expect(readFileSync("/proc/mounts", "utf8")).not.toContain(pubId);
    // keeper and web lived on: their names resolve through the new engine's listener (the redirect was re-pointed).
    expect((await docker(["exec", "keeper", "nslookup", "web"])).code).toBe(0);
    const listening = await listenersOn([gw]);
    expect(listening.length).toBe(2); // one UDP and one TCP socket, the new engine's

    expect((await docker(["rm", "-f", "keeper", "web", "pub"])).code).toBe(0);
    expect(await leftovers(dataRoot)).toEqual([]);
    second.kill("SIGTERM");
    await new Promise((r) => second.once("exit", r));
    expect(await listenersOn([gw])).toEqual([]);
  });
});

function existsCgroup(id: string): boolean {
  try {
    readFileSync(`/sys/fs/cgroup/hatake/${id}/cgroup.procs`, "utf8");
    return true;
  } catch {
    return false;
  }
}
