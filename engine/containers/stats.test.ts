import { describe, expect, it } from "vitest";
import type { ContainerStats } from "../runtime/index.ts";
import { parseNetDev, statsJson } from "./stats.ts";

const sample = (cpu: number, read: string): ContainerStats => ({
  read,
  memory: { usage: 4_194_304, maxUsage: 8_388_608, limit: 67_108_864, stats: { cache: 1024, total_inactive_file: 2048, swap: 0 }, failcnt: 0 },
  cpu: { totalUsage: cpu, usageInKernelmode: 10, usageInUsermode: 20, percpuUsage: [cpu, 0], systemUsage: 5_000_000_000, onlineCpus: 2, throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 } },
  pids: { current: 3 },
  blkio: [{ major: 8, minor: 0, op: "read", value: 4096 }],
});

describe("Docker's StatsJSON", () => {
  it("a not-running container: its name and ID with Go's zero values", () => {
    expect(statsJson({ id: "abc", name: "/web" }, undefined, undefined, "v1")).toEqual({
      read: "0001-01-01T00:00:00Z",
      preread: "0001-01-01T00:00:00Z",
      pids_stats: {},
      blkio_stats: {
        io_service_bytes_recursive: null,
        io_serviced_recursive: null,
        io_queue_recursive: null,
        io_service_time_recursive: null,
        io_wait_time_recursive: null,
        io_merged_recursive: null,
        io_time_recursive: null,
        sectors_recursive: null,
      },
      num_procs: 0,
      storage_stats: {},
      cpu_stats: { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
      precpu_stats: { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
      memory_stats: {},
      name: "/web",
      id: "abc",
    });
  });

  it("a sample with the previous one's CPU figures, v1 keys and op names, networks without lo", () => {
    const previous = sample(100, "2024-01-01T00:00:00.000Z");
    const networks = parseNetDev(
      [
        "Inter-|   Receive                                                |  Transmit",
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed",
        "    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0",
        "  eth0:    1500      10    1    2    0     0          0         0      900       7    3    4    0     0       0          0",
      ].join("\n"),
    );
    const json = statsJson({ id: "abc", name: "/web" }, { stats: sample(300, "2024-01-01T00:00:01.000Z"), networks }, previous, "v1");
    expect(Object.keys(json)).toEqual(["read", "preread", "pids_stats", "blkio_stats", "num_procs", "storage_stats", "cpu_stats", "precpu_stats", "memory_stats", "name", "id", "networks"]);
    expect(json).toMatchObject({
      read: "2024-01-01T00:00:01.000Z",
      preread: "2024-01-01T00:00:00.000Z",
      pids_stats: { current: 3 },
      cpu_stats: { cpu_usage: { total_usage: 300, percpu_usage: [300, 0] }, system_cpu_usage: 5_000_000_000, online_cpus: 2 },
      precpu_stats: { cpu_usage: { total_usage: 100 } },
      memory_stats: { usage: 4_194_304, max_usage: 8_388_608, limit: 67_108_864 },
      networks: { eth0: { rx_bytes: 1500, rx_packets: 10, rx_errors: 1, rx_dropped: 2, tx_bytes: 900, tx_packets: 7, tx_errors: 3, tx_dropped: 4 } },
    });
    const memory = json["memory_stats"] as { stats: Record<string, number> };
    expect(memory.stats["cache"]).toBe(1024);
    expect(memory.stats["total_inactive_file"]).toBe(2048);
    expect(memory.stats["swap"]).toBeUndefined();
    expect((json["blkio_stats"] as { io_service_bytes_recursive: unknown[] }).io_service_bytes_recursive).toEqual([{ major: 8, minor: 0, op: "Read", value: 4096 }]);
    expect(statsJson({ id: "abc", name: "/web" }, { stats: sample(1, "t"), networks: {} }, undefined, "v2")["networks"]).toBeUndefined();
  });
});
