import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../hatake.ts";
import { memoryIo } from "../testing.ts";
import { fixtures, runChecked, tempDir } from "../../testing/index.ts";
import { ImageStore } from "../../engine/images/index.ts";
import { buildBridgeNames } from "../../engine/networks/index.ts";

const CLI = join(import.meta.dirname, "..", "main.ts");
const TSX = join(import.meta.dirname, "..", "..", "node_modules", "tsx", "dist", "esm", "index.mjs");

async function hatakeBuild(root: string, args: readonly string[]): Promise<{ code: number; err: string }> {
  const io = memoryIo({ cwd: root, env: {} });
  const code = await main(["build", "--data-root", "data", "--progress=plain", ...args, "ctx"], io);
  return { code, err: io.err() };
}

async function project(dockerfile: string): Promise<string> {
  const root = await tempDir("bnet");
  mkdirSync(join(root, "ctx"), { recursive: true });
  writeFileSync(join(root, "ctx", "Dockerfile"), dockerfile);
  return root;
}

/** Everything on the host that carries a data root's build-network tag. */
async function hostObjects(dataRoot: string): Promise<string[]> {
  const n = buildBridgeNames(dataRoot);
  const out: string[] = [];
  for (const e of existsSync("/run/netns") ? readdirSync("/run/netns") : []) if (e.startsWith(`htkb-${n.tag}-`)) out.push(`netns ${e}`);
  const links = JSON.parse((await runChecked("ip", ["-j", "link", "show"])).stdout) as { ifname: string }[];
  for (const l of links) if (l.ifname.startsWith(`bv${n.tag}`) || l.ifname === n.bridge) out.push(`link ${l.ifname}`);
  for (const table of ["nat", "filter"]) {
    for (const line of (await runChecked("iptables", ["-w", "-t", table, "-S"])).stdout.split("\n")) if (line.includes(`HTKB-${n.tag}-`)) out.push(`${table} ${line}`);
  }
  if (existsSync(`/run/hatake/build-owners/${n.tag}`)) out.push("owner file");
  return out;
}

/**
 * Issue 5: build steps' network in builds without an engine — `default` is an own namespace with
 * outbound access (a build bridge with NAT), `none` has no route, `host` needs the entitlement. The
 * "outside" a step reaches is an HTTP server of this test on the host (this machine has no internet).
 */
describe("RUN network of in-process builds (hatake build --data-root)", () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer((req, res) => res.end(`hello from the host ${req.url ?? ""}\n`));
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("default reaches the host through the build bridge; none has no route; host needs --allow network.host", async () => {
    const gw = `$(ip route | awk '/^default/ {print $3}')`;
    const root = await project(`FROM ${fixtures().registry.host}/busybox
RUN wget -qO- http://${gw}:${port}/default > /default.txt && ip -4 addr show eth0 | awk '/inet / {print $2}' > /addr.txt && cat /etc/resolv.conf > /resolv.txt && cat /etc/hosts > /hosts.txt
RUN --network=none sh -c 'ip route > /none-routes.txt; ip link | grep -c "^[0-9]" > /none-links.txt; echo | nc -w 2 127.0.0.1 ${port} >/dev/null 2>&1 || echo unreachable > /none.txt'
`);
    const dataRoot = join(root, "data");
    const r = await hatakeBuild(root, ["-o", "type=local,dest=out"]);
    expect(r.err).not.toContain("ERROR");
    expect(r.code).toBe(0);
    const out = (f: string): string => readFileSync(join(root, "out", f), "utf8");
    expect(out("default.txt")).toBe("hello from the host /default\n");
    expect(out("addr.txt")).toMatch(/^10\.10\.\d+\.\d+\/24\n$/);
    // BuildKit's files: the host's resolvers without loopback ones; localhost and the sandbox's name.
    const hostServers = readFileSync("/etc/resolv.conf", "utf8").match(/^nameserver\s+(\S+)/gm)?.filter((l) => !/\s127\./.test(l)) ?? [];
    expect(out("resolv.txt")).toContain(hostServers.length > 0 ? (hostServers[0] ?? "") : "nameserver 8.8.8.8");
    expect(out("hosts.txt")).toBe("127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    expect(out("none-routes.txt")).toBe("");
    expect(out("none-links.txt")).toBe("1\n");
    expect(out("none.txt")).toBe("unreachable\n");
    // The build ended: its bridge, namespaces and rules are gone.
    expect(await hostObjects(dataRoot)).toEqual([]);

    // RUN --network=host: refused without the entitlement (BuildKit's text), run on the host with it.
    writeFileSync(join(root, "ctx", "Dockerfile"), `FROM ${fixtures().registry.host}/busybox\nRUN --network=host wget -qO- http://127.0.0.1:${port}/host > /host.txt\n`);
    const refused = await hatakeBuild(root, ["-o", "type=local,dest=out2"]);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toContain("network.host is not allowed");
    expect(refused.err).toContain("HTK-BUILD-0410");
    const allowed = await hatakeBuild(root, ["--allow", "network.host", "-o", "type=local,dest=out2"]);
    expect(allowed.err).not.toContain("ERROR");
    expect(readFileSync(join(root, "out2", "host.txt"), "utf8")).toBe("hello from the host /host\n");
    // --network=host for every step implies the entitlement (as buildx adds it).
    writeFileSync(join(root, "ctx", "Dockerfile"), `FROM ${fixtures().registry.host}/busybox\nRUN wget -qO- http://127.0.0.1:${port}/flag > /flag.txt\n`);
    const flag = await hatakeBuild(root, ["--network", "host", "-o", "type=local,dest=out3"]);
    expect(flag.err).not.toContain("ERROR");
    expect(readFileSync(join(root, "out3", "flag.txt"), "utf8")).toBe("hello from the host /flag\n");
    const bad = await hatakeBuild(root, ["--allow", "network.everything"]);
    expect(bad.err).toContain("HTK-BUILD-0411");
    const badNet = await hatakeBuild(root, ["--network", "bridge"]);
    expect(badNet.err).toContain("HTK-BUILD-0412");
  });

  it("proxy build args reach RUN but not the image config, the history or the cache key", async () => {
    const root = await project(`FROM ${fixtures().registry.host}/busybox
RUN env | grep -i _proxy= | sort > /proxy.txt
`);
    const first = await hatakeBuild(root, ["--build-arg", "HTTP_PROXY=http://proxy-one.invalid:3128", "--build-arg", "no_proxy=localhost", "-t", "bnet/proxy:1", "-o", "type=local,dest=out"]);
    expect(first.err).not.toContain("ERROR");
    expect(readFileSync(join(root, "out", "proxy.txt"), "utf8")).toBe(
      "HTTP_PROXY=http://proxy-one.invalid:3128\nNO_PROXY=localhost\nhttp_proxy=http://proxy-one.invalid:3128\nno_proxy=localhost\n",
    );
    const images = await ImageStore.openAt(join(root, "data"));
    const rec = images.resolve("bnet/proxy:1");
    const config = (await images.content.readBytes(rec.config.digest)).toString("utf8");
    expect(config).not.toContain("proxy-one");
    expect(config).not.toContain("PROXY");
    // Another proxy: the step stays cached (not part of its key), the same image.
    const second = await hatakeBuild(root, ["--build-arg", "HTTP_PROXY=http://proxy-two.invalid:3128", "-t", "bnet/proxy:1"]);
    expect(second.err).not.toContain("ERROR");
    expect(second.err).toMatch(/RUN env \| grep[^\n]*\n#\d+ CACHED/);
    expect((await ImageStore.openAt(join(root, "data"))).resolve("bnet/proxy:1").id).toBe(rec.id);
  });

  it("kill -9 during a RUN on the build bridge: the next build removes the bridge, namespace and rules", async () => {
    const root = await project(`FROM ${fixtures().registry.host}/busybox\nRUN echo started && sleep 597\n`);
    const dataRoot = join(root, "data");
    const child = spawn(process.execPath, ["--import", TSX, CLI, "build", "--data-root", "data", "--progress=plain", "ctx"], {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, HATAKE_BUILD_WORKER: "" },
    });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    try {
      for (let i = 0; i < 1200 && !/#\d+ \d+\.\d+ started/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
      expect(err).toMatch(/#\d+ \d+\.\d+ started/);
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
    const left = await hostObjects(dataRoot);
    expect(left.filter((o) => o.startsWith("netns")).length).toBe(1);
    expect(left.some((o) => o.startsWith("link bb"))).toBe(true);
    expect(left.some((o) => o.startsWith("nat"))).toBe(true);
    // The next build needs no bridge of its own: what it finds removed is the killed build's.
    writeFileSync(join(root, "ctx", "Dockerfile"), `FROM ${fixtures().registry.host}/busybox\nRUN --network=none echo after\n`);
    const next = await hatakeBuild(root, []);
    expect(next.err).not.toContain("ERROR");
    expect(await hostObjects(dataRoot)).toEqual([]);
  });
});
