import { spawn, spawnSync } from "node:child_process";
import { request } from "node:http";
import { createServer } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { ensureBusyboxImage } from "../../testing/busybox-image.ts";
import { fixtureCacheDir } from "../../testing/index.ts";
import type { BenchContext, OpenResult, Target, Workload } from "../types.ts";
import { answers, startEngineProcess, type EngineProcess } from "./engine-process.ts";

/**
 * Issue 8's network figures, with the real docker CLI on a `hatake engine` process (or a Docker
 * Engine with --vs-docker-host), busybox as the fixture image (`docker load` of the test fixture):
 *
 * - `network-tcp-throughput`: 128 MiB from one container to another on a user-defined network
 *   (busybox `dd | nc` into `nc -ll -e` running `cat > /dev/null` (a plain `nc -l` whose stdin is at its end closes the connection at once), by name through the embedded DNS), beside the same
 *   busybox binary doing the same over the host's loopback and over a bare veth pair between two
 *   namespaces the workload makes (no bridge, no rules: the kernel's own cost for the container path;
 *   see `timedSend` for the clock).
 * - `published-port-latency`: 200 sequential HTTP requests (a new connection each, as curl) from the
 *   host to busybox httpd behind `-p 127.0.0.1:PORT:80` (the engine's relay) and `-p PORT:80` on the
 *   host's address (DNAT), and straight to the container's address (the bridge alone); median and
 *   p99 per request.
 */

const BYTES = 128 * 1024 * 1024;
const REQUESTS = 200;

interface DockerSession {
  readonly env: NodeJS.ProcessEnv;
  readonly image: string;
  docker(args: readonly string[]): { status: number; stdout: string; stderr: string };
  close(): Promise<void>;
}

async function openDocker(target: Target, ctx: BenchContext, name: string): Promise<DockerSession | string> {
  let engine: EngineProcess | undefined;
  let host: string;
  if (target.kind === "reference") {
    if (!(await answers(target.dockerHost))) return `${target.dockerHost} does not answer`;
    host = target.dockerHost;
  } else {
    engine = await startEngineProcess(ctx.repo, ctx.scratch, name, ctx.signal);
    host = `unix://${engine.socket}`;
  }
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(ctx.scratch, `${name}-docker-config`) };
  delete env["DOCKER_CONTEXT"];
  const docker = (args: readonly string[]): { status: number; stdout: string; stderr: string } => {
    const r = spawnSync("docker", [...args], { env, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
    return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };
  const busybox = await ensureBusyboxImage(fixtureCacheDir(), { signal: ctx.signal });
  const loaded = docker(["load", "-q", "-i", busybox.dockerArchive]);
  if (loaded.status !== 0) {
    await engine?.stop();
    return `docker load of the busybox fixture failed: ${loaded.stderr.trim()}`;
  }
  return {
    env,
    image: "busybox:latest",
    docker,
    async close() {
      await engine?.stop();
    },
  };
}

function must(r: { status: number; stdout: string; stderr: string }, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/**
 * A shell pipeline sending BYTES into `nc` with the clock read around dd (Debian's busybox dd reports
 * no time): /proc/uptime's 10 ms steps, ±1–2 % on transfers of about a second. dd ends when nc has
 * taken all but a pipe and socket buffers' worth, so `nc -w 1`'s idle second after it is not counted.
 */
function timedSend(nc: string, host: string, port: number): string {
  return `(cut -d' ' -f1 /proc/uptime >&2; ${nc === "nc" ? "" : "busybox "}dd if=/dev/zero bs=65536 count=${BYTES / 65536} 2>/dev/null; cut -d' ' -f1 /proc/uptime >&2) | ${nc} -w 1 ${host} ${port}`;
}

/** The seconds between the two uptime readings `timedSend` wrote to stderr. */
function sendSeconds(stderr: string): number {
  const t = stderr.split("\n").filter((l) => /^\d+\.\d+$/.test(l.trim())).map(Number);
  const [a, b] = [t[0], t[1]];
  if (a === undefined || b === undefined || b <= a) throw new Error(`no clock readings around the transfer: ${stderr.trim()}`);
  return b - a;
}

async function freePort(address: string): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, address, r));
  const a = srv.address();
  await new Promise((r) => srv.close(r));
  return typeof a === "object" && a !== null ? a.port : 0;
}

/** `dd | nc` over the host's loopback with the host's busybox: the reference the container figure is read against. */
async function loopbackSeconds(): Promise<number> {
  const port = await freePort("127.0.0.1");
  const server = spawn("busybox", ["nc", "-ll", "-p", String(port), "-e", "sh", "-c", "cat > /dev/null"], { stdio: ["ignore", "ignore", "ignore"] });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const r = spawnSync("sh", ["-c", timedSend("busybox nc", "127.0.0.1", port)], { encoding: "utf8" });
    return sendSeconds(r.stderr ?? "");
  } finally {
    server.kill("SIGKILL");
  }
}

/** The same transfer between two namespaces joined by a plain veth pair (MTU 1500), made and removed here. */
async function bareVethSeconds(): Promise<number> {
  const tag = `htkbench${process.pid % 100000}`;
  const run = (args: string[]): void => {
    const r = spawnSync(args[0] ?? "", args.slice(1), { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
  };
  const [a, b] = [`${tag}a`, `${tag}b`];
  run(["ip", "netns", "add", a]);
  run(["ip", "netns", "add", b]);
  try {
    run(["ip", "link", "add", "veth0", "netns", a, "type", "veth", "peer", "name", "veth0", "netns", b]);
    run(["ip", "-n", a, "addr", "add", "192.0.2.1/30", "dev", "veth0"]);
    run(["ip", "-n", b, "addr", "add", "192.0.2.2/30", "dev", "veth0"]);
    for (const n of [a, b]) {
      run(["ip", "-n", n, "link", "set", "veth0", "up"]);
      run(["ip", "-n", n, "link", "set", "lo", "up"]);
    }
    const server = spawn("ip", ["netns", "exec", b, "busybox", "nc", "-ll", "-p", "5001", "-e", "sh", "-c", "cat > /dev/null"], { stdio: ["ignore", "ignore", "ignore"] });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const r = spawnSync("ip", ["netns", "exec", a, "sh", "-c", timedSend("busybox nc", "192.0.2.2", 5001)], { encoding: "utf8" });
      return sendSeconds(r.stderr ?? "");
    } finally {
      server.kill("SIGKILL");
    }
  } finally {
    spawnSync("ip", ["netns", "del", a]);
    spawnSync("ip", ["netns", "del", b]);
  }
}

export const networkThroughput: Workload = {
  name: "network-tcp-throughput",
  description: "128 MiB container to container on a user network (busybox dd | nc, by name) vs the host's loopback and a bare veth pair",
  metrics: [
    { name: "containers", unit: "MB/s", better: "higher" },
    { name: "hostLoopback", unit: "MB/s", better: "higher" },
    { name: "bareVeth", unit: "MB/s", better: "higher" },
  ],
  runs: 5,
  warmupRuns: 1,
  async open(target, ctx): Promise<OpenResult> {
    const s = await openDocker(target, ctx, "net-throughput");
    if (typeof s === "string") return { kind: "unavailable", reason: s };
    s.docker(["rm", "-f", "bench-sink", "bench-source"]);
    s.docker(["network", "rm", "bench-net"]);
    must(s.docker(["network", "create", "bench-net"]), "network create");
    must(s.docker(["run", "-d", "--name", "bench-sink", "--network", "bench-net", s.image, "nc", "-ll", "-p", "5001", "-e", "sh", "-c", "cat > /dev/null"]), "the sink");
    must(s.docker(["run", "-d", "--name", "bench-source", "--network", "bench-net", s.image, "sleep", "3600"]), "the source");
    return {
      kind: "ready",
      session: {
        async sample() {
          const r = s.docker(["exec", "bench-source", "sh", "-c", `sleep 0.2; ${timedSend("nc", "bench-sink", 5001)}`]);
          if (r.status !== 0) throw new Error(`the transfer failed (${r.status}): ${r.stdout} ${r.stderr}`);
          const containers = BYTES / 1e6 / sendSeconds(r.stderr);
          const hostLoopback = BYTES / 1e6 / (await loopbackSeconds());
          const bareVeth = BYTES / 1e6 / (await bareVethSeconds());
          return { containers, hostLoopback, bareVeth };
        },
        async close() {
          s.docker(["rm", "-f", "bench-sink", "bench-source"]);
          s.docker(["network", "rm", "bench-net"]);
          await s.close();
        },
      },
    };
  },
};

function hostAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return undefined;
}

/** One GET on a new connection; its time in ms. */
function timedGet(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host, port, path: "/", agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(performance.now() - t0));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET http://${host}:${port}/ timed out`)));
    req.on("error", reject);
    req.end();
  });
}

async function series(host: string, port: number): Promise<{ median: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) times.push(await timedGet(host, port));
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)] ?? 0, p99: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))] ?? 0 };
}

export const publishedPortLatency: Workload = {
  name: "published-port-latency",
  description: "200 sequential HTTP requests (new connection each) from the host to busybox httpd: -p 127.0.0.1 (relay), -p on the host's address (DNAT), the container's address",
  metrics: [
    { name: "relayMedian", unit: "ms", better: "lower" },
    { name: "relayP99", unit: "ms", better: "lower" },
    { name: "dnatMedian", unit: "ms", better: "lower" },
    { name: "dnatP99", unit: "ms", better: "lower" },
    { name: "directMedian", unit: "ms", better: "lower" },
  ],
  runs: 5,
  warmupRuns: 1,
  async open(target, ctx): Promise<OpenResult> {
    const address = hostAddress();
    if (address === undefined) return { kind: "unavailable", reason: "the host has no non-loopback IPv4 address" };
    const s = await openDocker(target, ctx, "net-latency");
    if (typeof s === "string") return { kind: "unavailable", reason: s };
    const lo = await freePort("127.0.0.1");
    const any = await freePort("0.0.0.0");
    s.docker(["rm", "-f", "bench-httpd"]);
    must(s.docker(["run", "-d", "--name", "bench-httpd", "-p", `127.0.0.1:${lo}:80`, "-p", `${any}:80`, s.image, "sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www"]), "httpd");
    const ip = must(s.docker(["inspect", "--format", "{{.NetworkSettings.IPAddress}}", "bench-httpd"]), "inspect");
    for (let i = 0; i < 100; i++) {
      if (await timedGet("127.0.0.1", lo).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      kind: "ready",
      session: {
        async sample() {
          const relay = await series("127.0.0.1", lo);
          const dnat = await series(address, any);
          const direct = await series(ip, 80);
          return { relayMedian: relay.median, relayP99: relay.p99, dnatMedian: dnat.median, dnatP99: dnat.p99, directMedian: direct.median };
        },
        async close() {
          s.docker(["rm", "-f", "bench-httpd"]);
          await s.close();
        },
      },
    };
  },
};

export const networkWorkloads: readonly Workload[] = [networkThroughput, publishedPortLatency];
