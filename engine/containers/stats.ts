import type { ContainerStats } from "../runtime/index.ts";

/**
 * `docker stats`: the runtime's cgroup figures in Docker's StatsJSON shape (api/types/stats.go, the
 * field order and omitempty rules of Go's encoder), pure. `previous` fills `precpu_stats`/`preread`
 * (Docker's collector samples every second; `--no-stream` waits for the second sample so the CPU
 * percentage has a base).
 */

export const ZERO_TIME = "0001-01-01T00:00:00Z";

/** Network counters of one interface (NetworkStats). */
export interface NetworkCounters {
  readonly rx_bytes: number;
  readonly rx_packets: number;
  readonly rx_errors: number;
  readonly rx_dropped: number;
  readonly tx_bytes: number;
  readonly tx_packets: number;
  readonly tx_errors: number;
  readonly tx_dropped: number;
}

/** memory.stat keys Docker reports on cgroup v1 (containerd's metrics, daemon/stats_unix.go). */
const V1_MEMORY_KEYS = [
  "cache",
  "rss",
  "rss_huge",
  "mapped_file",
  "dirty",
  "writeback",
  "pgpgin",
  "pgpgout",
  "pgfault",
  "pgmajfault",
  "inactive_anon",
  "active_anon",
  "inactive_file",
  "active_file",
  "unevictable",
  "hierarchical_memory_limit",
  "hierarchical_memsw_limit",
  "total_cache",
  "total_rss",
  "total_rss_huge",
  "total_mapped_file",
  "total_dirty",
  "total_writeback",
  "total_pgpgin",
  "total_pgpgout",
  "total_pgfault",
  "total_pgmajfault",
  "total_inactive_anon",
  "total_active_anon",
  "total_inactive_file",
  "total_active_file",
  "total_unevictable",
] as const;

/** memory.stat keys Docker reports on cgroup v2 (statsV2). */
const V2_MEMORY_KEYS = [
  "anon",
  "file",
  "kernel_stack",
  "slab",
  "sock",
  "shmem",
  "file_mapped",
  "file_dirty",
  "file_writeback",
  "anon_thp",
  "inactive_anon",
  "active_anon",
  "inactive_file",
  "active_file",
  "unevictable",
  "slab_reclaimable",
  "slab_unreclaimable",
  "pgfault",
  "pgmajfault",
  "workingset_refault",
  "workingset_activate",
  "workingset_nodereclaim",
  "pgrefill",
  "pgscan",
  "pgsteal",
  "pgactivate",
  "pgdeactivate",
  "pglazyfree",
  "pglazyfreed",
  "thp_fault_alloc",
  "thp_collapse_alloc",
] as const;

type CpuStatsJson = Record<string, unknown>;

/** Docker's CPUStats (zero values when there is no sample: `cpu_usage` and `throttling_data` stay). */
export function cpuStatsJson(s: ContainerStats | undefined): CpuStatsJson {
  if (s === undefined) {
    return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
  }
  const c = s.cpu;
  return {
    cpu_usage: {
      total_usage: c.totalUsage,
      ...(c.percpuUsage !== undefined && c.percpuUsage.length > 0 ? { percpu_usage: c.percpuUsage } : {}),
      usage_in_kernelmode: c.usageInKernelmode,
      usage_in_usermode: c.usageInUsermode,
    },
    ...(c.systemUsage !== 0 ? { system_cpu_usage: c.systemUsage } : {}),
    ...(c.onlineCpus !== 0 ? { online_cpus: c.onlineCpus } : {}),
    throttling_data: { periods: c.throttling.periods, throttled_periods: c.throttling.throttledPeriods, throttled_time: c.throttling.throttledTime },
  };
}

function memoryStatsJson(s: ContainerStats, cgroup: "v1" | "v2"): Record<string, unknown> {
  const m = s.memory;
  const keys: readonly string[] = cgroup === "v1" ? V1_MEMORY_KEYS : V2_MEMORY_KEYS;
  const stats: Record<string, number> = {};
  for (const k of keys) stats[k] = m.stats[k] ?? 0;
  return {
    ...(m.usage !== 0 ? { usage: m.usage } : {}),
    ...(m.maxUsage !== undefined && m.maxUsage !== 0 ? { max_usage: m.maxUsage } : {}),
    stats,
    ...(m.failcnt !== undefined && m.failcnt !== 0 ? { failcnt: m.failcnt } : {}),
    ...(m.limit !== 0 ? { limit: m.limit } : {}),
  };
}

function blkioJson(s: ContainerStats | undefined, cgroup: "v1" | "v2"): Record<string, unknown> {
  // v1's file names the operations "Read"/"Write"; Docker passes them on as read (v2: lower case).
  const bytes = s?.blkio.map((e) => ({ major: e.major, minor: e.minor, op: cgroup === "v1" ? (e.op === "read" ? "Read" : "Write") : e.op, value: e.value })) ?? null;
  return {
    io_service_bytes_recursive: bytes,
    io_serviced_recursive: null,
    io_queue_recursive: null,
    io_service_time_recursive: null,
    io_wait_time_recursive: null,
    io_merged_recursive: null,
    io_time_recursive: null,
    sectors_recursive: null,
  };
}

export interface StatsSample {
  readonly stats: ContainerStats;
  readonly networks?: Readonly<Record<string, NetworkCounters>>;
}

/**
 * One StatsJSON object. `sample` undefined: Docker's answer for a container that does not run
 * (name and ID, zero values). `previous`: the sample before, for `precpu_stats` and `preread`.
 */
export function statsJson(container: { readonly id: string; readonly name: string }, sample: StatsSample | undefined, previous: ContainerStats | undefined, cgroup: "v1" | "v2"): Record<string, unknown> {
  const s = sample?.stats;
  const pids = s === undefined ? {} : { ...(s.pids.current !== 0 ? { current: s.pids.current } : {}), ...(s.pids.limit !== undefined && s.pids.limit !== 0 ? { limit: s.pids.limit } : {}) };
  const networks = sample?.networks;
  return {
    read: s?.read ?? ZERO_TIME,
    preread: previous?.read ?? ZERO_TIME,
    pids_stats: pids,
    blkio_stats: blkioJson(s, cgroup),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStatsJson(s),
    precpu_stats: cpuStatsJson(previous),
    memory_stats: s === undefined ? {} : memoryStatsJson(s, cgroup),
    name: container.name,
    id: container.id,
    ...(networks !== undefined && Object.keys(networks).length > 0 ? { networks } : {}),
  };
}

/**
 * /proc/<pid>/net/dev: the counters of the interfaces in the container's network namespace, without
 * loopback (Docker reports the container's endpoints; a container on `none` has no `networks`).
 */
export function parseNetDev(text: string): Record<string, NetworkCounters> {
  const out: Record<string, NetworkCounters> = {};
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === "" || name === "lo") continue;
    const v = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    const at = (i: number): number => v[i] ?? 0;
    out[name] = { rx_bytes: at(0), rx_packets: at(1), rx_errors: at(2), rx_dropped: at(3), tx_bytes: at(8), tx_packets: at(9), tx_errors: at(10), tx_dropped: at(11) };
  }
  return out;
}
