import { closeSync, constants, existsSync, openSync, readSync, readFileSync } from "node:fs";
import { readFile, readdir, rmdir } from "node:fs/promises";
import { availableParallelism, totalmem } from "node:os";
import { join } from "node:path";
import type { ContainerStats } from "./types.ts";

/**
 * Reading a container's cgroup: stats for `docker stats`, OOM kills, and leftover cgroups.
 *
 * The container's cgroup is `linux.cgroupsPath` (`<parent>/<id>`), created and removed by crun. On
 * cgroup v1 (this machine: v1 controllers, a cgroup2 mount holding only hugetlb) each controller has
 * its own tree under /sys/fs/cgroup/<controller>; on v2 there is one tree.
 */

const ROOT = "/sys/fs/cgroup";

export type CgroupMode = "v1" | "v2";

export function cgroupMode(): CgroupMode {
  return existsSync(join(ROOT, "cgroup.controllers")) ? "v2" : "v1";
}

/** The v1 hierarchies a container gets a directory in (crun creates these; `systemd` is the name=systemd one). */
const V1_CONTROLLERS = ["memory", "cpu", "cpuacct", "pids", "freezer", "blkio", "devices", "cpuset", "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc", "systemd"];

/** Every directory the cgroup `path` has (one per mounted v1 controller, or the one v2 directory). */
export function cgroupDirs(path: string): string[] {
  if (cgroupMode() === "v2") return [join(ROOT, path)];
  return V1_CONTROLLERS.map((c) => join(ROOT, c, path)).filter((d) => existsSync(d));
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

async function readNumber(path: string): Promise<number | undefined> {
  const t = (await readText(path))?.trim();
  if (t === undefined || t === "" || t === "max") return undefined;
  const n = Number(t.split(/\s+/)[0]);
  return Number.isFinite(n) ? n : undefined;
}

function parseKeyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? "").split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && k !== "" && v !== undefined && Number.isFinite(Number(v))) out[k] = Number(v);
  }
  return out;
}

/** USER_HZ: the unit of cpuacct.stat and /proc/stat (100 on every Linux build Docker supports). */
const USER_HZ = 100;
const NS_PER_TICK = 1e9 / USER_HZ;

/** Host CPU time in nanoseconds, as Docker's system_cpu_usage (the sum of /proc/stat's first line). */
async function systemCpuUsage(): Promise<number> {
  const line = (await readText("/proc/stat"))?.split("\n").find((l) => l.startsWith("cpu ")) ?? "";
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .reduce((sum, v) => sum + Number(v), 0);
  return ticks * NS_PER_TICK;
}

/** The limit Docker shows for an unlimited container: the host's memory. */
function effectiveLimit(limit: number | undefined): number {
  const host = totalmem();
  return limit === undefined || limit > host ? host : limit;
}

/** Stats of the cgroup at `path` (`linux.cgroupsPath`). Missing files read as 0. */
export async function readCgroupStats(path: string): Promise<ContainerStats> {
  const read = new Date().toISOString();
  const systemUsage = await systemCpuUsage();
  const onlineCpus = availableParallelism();
  if (cgroupMode() === "v2") {
    const dir = join(ROOT, path);
    const [current, max, peak, memStat, cpuStat, pidsCurrent, pidsMax, ioStat] = await Promise.all([
      readNumber(join(dir, "memory.current")),
      readNumber(join(dir, "memory.max")),
      readNumber(join(dir, "memory.peak")),
      readText(join(dir, "memory.stat")),
      readText(join(dir, "cpu.stat")),
      readNumber(join(dir, "pids.current")),
      readNumber(join(dir, "pids.max")),
      readText(join(dir, "io.stat")),
    ]);
    const cpu = parseKeyValues(cpuStat);
    return {
      read,
      memory: { usage: current ?? 0, ...(peak !== undefined ? { maxUsage: peak } : {}), limit: effectiveLimit(max), stats: parseKeyValues(memStat) },
      cpu: {
        totalUsage: (cpu["usage_usec"] ?? 0) * 1000,
        usageInKernelmode: (cpu["system_usec"] ?? 0) * 1000,
        usageInUsermode: (cpu["user_usec"] ?? 0) * 1000,
        systemUsage,
        onlineCpus,
        throttling: { periods: cpu["nr_periods"] ?? 0, throttledPeriods: cpu["nr_throttled"] ?? 0, throttledTime: (cpu["throttled_usec"] ?? 0) * 1000 },
      },
      pids: { current: pidsCurrent ?? 0, ...(pidsMax !== undefined ? { limit: pidsMax } : {}) },
      blkio: parseIoStatV2(ioStat),
    };
  }
  const c = (controller: string, file: string): string => join(ROOT, controller, path, file);
  const [usage, maxUsage, limit, failcnt, memStat, cpuUsage, percpu, cpuacctStat, cpuStat, pidsCurrent, pidsMax, ioBytes] = await Promise.all([
    readNumber(c("memory", "memory.usage_in_bytes")),
    readNumber(c("memory", "memory.max_usage_in_bytes")),
    readNumber(c("memory", "memory.limit_in_bytes")),
    readNumber(c("memory", "memory.failcnt")),
    readText(c("memory", "memory.stat")),
    readNumber(c("cpuacct", "cpuacct.usage")),
    readText(c("cpuacct", "cpuacct.usage_percpu")),
    readText(c("cpuacct", "cpuacct.stat")),
    readText(c("cpu", "cpu.stat")),
    readNumber(c("pids", "pids.current")),
    readNumber(c("pids", "pids.max")),
    readText(c("blkio", "blkio.throttle.io_service_bytes_recursive")),
  ]);
  const acct = parseKeyValues(cpuacctStat);
  const throttle = parseKeyValues(cpuStat);
  const percpuUsage = (percpu ?? "").trim().split(/\s+/).filter((v) => v !== "").map(Number);
  return {
    read,
    memory: {
      usage: usage ?? 0,
      ...(maxUsage !== undefined ? { maxUsage } : {}),
      limit: effectiveLimit(limit),
      stats: parseKeyValues(memStat),
      ...(failcnt !== undefined ? { failcnt } : {}),
    },
    cpu: {
      totalUsage: cpuUsage ?? 0,
      usageInKernelmode: (acct["system"] ?? 0) * NS_PER_TICK,
      usageInUsermode: (acct["user"] ?? 0) * NS_PER_TICK,
      ...(percpuUsage.length > 0 ? { percpuUsage } : {}),
      systemUsage,
      onlineCpus,
      throttling: { periods: throttle["nr_periods"] ?? 0, throttledPeriods: throttle["nr_throttled"] ?? 0, throttledTime: throttle["throttled_time"] ?? 0 },
    },
    pids: { current: pidsCurrent ?? 0, ...(pidsMax !== undefined ? { limit: pidsMax } : {}) },
    blkio: parseIoServiceBytesV1(ioBytes),
  };
}

type BlkioEntry = ContainerStats["blkio"][number];

/** v1 `8:0 Read 4096` lines (Write, Sync, Async, Discard and Total are there too; Docker shows all, we keep read/write). */
export function parseIoServiceBytesV1(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const m = /^(\d+):(\d+) (Read|Write) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3] === "Read" ? "read" : "write", value: Number(m[4]) });
  }
  return out;
}

/** v2 `8:0 rbytes=4096 wbytes=0 rios=1 …` lines. */
export function parseIoStatV2(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const m = /^(\d+):(\d+) (.*)$/.exec(line.trim());
    if (!m) continue;
    const kv = Object.fromEntries((m[3] ?? "").split(" ").map((p) => p.split("=") as [string, string]));
    const major = Number(m[1]);
    const minor = Number(m[2]);
    out.push({ major, minor, op: "read", value: Number(kv["rbytes"] ?? 0) }, { major, minor, op: "write", value: Number(kv["wbytes"] ?? 0) });
  }
  return out;
}

/** The host pids in the cgroup (every controller lists the same set; memory or the v2 dir is read). */
export async function cgroupPids(path: string): Promise<number[]> {
  const dir = cgroupMode() === "v2" ? join(ROOT, path) : join(ROOT, "memory", path);
  const text = await readText(join(dir, "cgroup.procs"));
  return (text ?? "")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map(Number);
}

/** The container's OOM-kill counter while its cgroup exists (v2 memory.events, v1 memory.oom_control). */
export async function oomKillCount(path: string): Promise<number | undefined> {
  if (cgroupMode() === "v2") return parseKeyValues(await readText(join(ROOT, path, "memory.events")))["oom_kill"];
  return parseKeyValues(await readText(join(ROOT, "memory", path, "memory.oom_control")))["oom_kill"];
}

/** Now on the clock /dev/kmsg stamps its records with (CLOCK_MONOTONIC, µs); libuv's hrtime is the same clock. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Did the kernel OOM-kill a process of the cgroup `path` since `sinceMicros`?
 *
 * Why the kernel log: crun removes the container's cgroup when the container exits, and with it the
 * only per-cgroup OOM counter (v1 memory.oom_control / v2 memory.events count kills on the victim's
 * own cgroup and v1 does not propagate them to parents). containerd watches an eventfd registered on
 * memory.oom_control for this; Node cannot. The kernel's report survives in /dev/kmsg:
 * `oom-kill:constraint=CONSTRAINT_MEMCG,…,oom_memcg=/hatake/<id>,task_memcg=/hatake/<id>,…`.
 * Records older than `sinceMicros` (a previous run of a restarted container) are ignored.
 *
 * Returns undefined when /dev/kmsg cannot be read (no CAP_SYSLOG, dmesg_restrict in a user namespace):
 * OOM kills are then not detected and a killed container reports signal 9.
 */
export function kernelLogShowsOomKill(path: string, sinceMicros: number): boolean | undefined {
  let fd: number;
  try {
    fd = openSync("/dev/kmsg", constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  const needles = [`oom_memcg=${path},`, `task_memcg=${path},`, `task_memcg=${path}/`];
  const buf = Buffer.alloc(8192);
  let found = false;
  try {
    // One record per read; EAGAIN at the end; EPIPE when a record was overwritten (skip it).
    for (let i = 0; i < 1_000_000; i++) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EPIPE" || code === "EINVAL") continue;
        break;
      }
      if (n <= 0) break;
      const record = buf.toString("utf8", 0, n);
      const semi = record.indexOf(";");
      if (semi < 0) continue;
      const stamp = Number(record.slice(0, semi).split(",")[2]);
      if (!(stamp >= sinceMicros)) continue;
      const text = record.slice(semi + 1);
      if (text.startsWith("oom-kill:") && needles.some((n2) => text.includes(n2))) found = true;
    }
  } finally {
    closeSync(fd);
  }
  return found;
}

/** True if this process may read the kernel log (for the README's and the tests' sake). */
export function canReadKernelLog(): boolean {
  try {
    closeSync(openSync("/dev/kmsg", constants.O_RDONLY | constants.O_NONBLOCK));
    return true;
  } catch {
    return false;
  }
}

/**
 * Remove the cgroup directories under `parent` named by one of `ids` that no process uses any more:
 * what a crashed engine left of its own containers. Directories still holding processes are kept and
 * returned. Only the named ones: several engines (and in-process builds) share the parent, and a
 * directory the runtime of another one has just made is empty until its process joins it.
 */
export async function removeStaleCgroups(parent: string, ids: ReadonlySet<string>): Promise<{ removed: string[]; busy: string[] }> {
  const removed: string[] = [];
  const busy: string[] = [];
  for (const dir of cgroupDirs(parent)) {
    let names: string[] = [];
    try {
      names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && ids.has(e.name)).map((e) => e.name);
    } catch {
      continue;
    }
    for (const name of names) {
      const child = join(dir, name);
      try {
        await rmdir(child);
        removed.push(child);
      } catch {
        busy.push(child);
      }
    }
  }
  return { removed, busy };
}

/** The hybrid-cgroup condition (see README): a cgroup2 mount beside v1 that still owns a controller. */
export function unifiedHoldsControllers(): boolean {
  try {
    return readFileSync(join(ROOT, "unified", "cgroup.controllers"), "utf8").trim() !== "";
  } catch {
    return false;
  }
}
