import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { engineId, isContainerized, maskCredentials, memTotal, parseInitVersion, parseOsRelease, parseRuntimeVersion, probeCgroups, probeHost, type HostFacts } from "./host-facts.ts";
import { containerCounts, infoJson, infoWarnings, registryConfig, type InfoInput } from "./system-info.ts";

const root = mkdtempSync(join(tmpdir(), `htk-test-${process.pid}-info-`));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function files(base: string, tree: Readonly<Record<string, string>>): string {
  for (const [path, text] of Object.entries(tree)) {
    mkdirSync(dirname(join(base, path)), { recursive: true });
    writeFileSync(join(base, path), text);
  }
  return base;
}

const HOST: HostFacts = {
  name: "box",
  kernelVersion: "6.1.0",
  architecture: "x86_64",
  operatingSystem: "Debian GNU/Linux 12 (bookworm)",
  osVersion: "12",
  ncpu: 4,
  memTotal: 8 * 1024 ** 3,
  cgroup: { version: "2", memoryLimit: true, swapLimit: true, kernelMemoryTcp: false, oomKillDisable: false, cpuCfs: true, cpuShares: true, cpuset: true, pidsLimit: true, io: true },
  ipv4Forwarding: true,
  bridgeNfIptables: true,
  bridgeNfIp6tables: true,
  backingFilesystem: "extfs",
  rootless: false,
};

describe("host facts", () => {
  it("reads os-release, meminfo and the containerized check as Docker's parsers", () => {
    expect(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n# comment\n')).toEqual({
      PRETTY_NAME: "Debian GNU/Linux 12 (bookworm)",
      VERSION_ID: "12",
      ID: "debian",
    });
    expect(memTotal("MemTotal:       24684084 kB\nMemFree: 1 kB\n")).toBe(24684084 * 1024);
    expect(isContainerized("0::/\n")).toBe(false);
    expect(isContainerized("0::/init.scope\n")).toBe(false);
    expect(isContainerized("12:memory:/docker/abc\n0::/\n")).toBe(true);
  });

  it("parses crun/runc and tini version output", () => {
    expect(parseRuntimeVersion("crun version 1.8.1\ncommit: f8a096be\nrundir: /run/crun\nspec: 1.0.0\n")).toEqual({ version: "1.8.1", commit: "f8a096be" });
    expect(parseRuntimeVersion("runc version 1.1.12\ncommit: v1.1.12-0-g51d5e946\nspec: 1.0.2-dev\n")).toEqual({ version: "1.1.12", commit: "v1.1.12-0-g51d5e946" });
    expect(parseInitVersion("tini version 0.19.0 - git.de40ad0\n")).toEqual({ version: "0.19.0", commit: "de40ad0" });
    expect(parseInitVersion("tini version 0.19.0\n")).toEqual({ version: "0.19.0", commit: "" });
    expect(parseRuntimeVersion("nonsense")).toBeUndefined();
  });

  it("probes cgroup v1 controllers and v2's controller list", () => {
    const v1 = files(join(root, "v1"), {
      "sys/fs/cgroup/memory/memory.limit_in_bytes": "",
      "sys/fs/cgroup/memory/memory.oom_control": "",
      "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "",
      "sys/fs/cgroup/cpu/cpu.cfs_period_us": "",
      "sys/fs/cgroup/cpu/cpu.shares": "",
      "sys/fs/cgroup/pids/tasks": "",
    });
    expect(probeCgroups(v1)).toEqual({
      version: "1",
      memoryLimit: true,
      swapLimit: false,
      kernelMemoryTcp: false,
      oomKillDisable: true,
      cpuCfs: true,
      cpuShares: true,
      cpuset: false,
      pidsLimit: true,
      io: true,
    });
    const v2 = files(join(root, "v2"), { "sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory pids\n", "sys/fs/cgroup/system.slice/memory.max": "max", "sys/fs/cgroup/system.slice/memory.swap.max": "max" });
    expect(probeCgroups(v2)).toMatchObject({ version: "2", memoryLimit: true, swapLimit: true, cpuset: true, pidsLimit: true, io: true, oomKillDisable: false });
  });

  it("describes a host from its files", () => {
    const host = files(join(root, "host"), {
      "etc/os-release": 'PRETTY_NAME="Test OS 1"\nVERSION_ID="1"\n',
      "proc/1/cgroup": "0::/\n",
      "proc/meminfo": "MemTotal: 1000 kB\n",
      "proc/sys/net/ipv4/ip_forward": "1\n",
      "proc/sys/net/bridge/bridge-nf-call-iptables": "0\n",
      "sys/fs/cgroup/cgroup.controllers": "memory\n",
    });
    expect(probeHost(root, host)).toMatchObject({
      operatingSystem: "Test OS 1",
      osVersion: "1",
      memTotal: 1_024_000,
      ipv4Forwarding: true,
      bridgeNfIptables: false,
      bridgeNfIp6tables: false,
      cgroup: { version: "2", memoryLimit: true, cpuCfs: false },
    });
    writeFileSync(join(host, "proc/1/cgroup"), "4:memory:/sandbox/x\n0::/\n");
    expect(probeHost(root, host).operatingSystem).toBe("Test OS 1 (containerized)");
  });

  it("keeps one engine ID per data root and masks proxy passwords", () => {
    const dataRoot = join(root, "data");
    const id = engineId(dataRoot);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(engineId(dataRoot)).toBe(id);
    expect(maskCredentials("http://user:secret@proxy:3128")).toBe("http://user:xxxxx@proxy:3128");
    expect(maskCredentials("http://proxy:3128")).toBe("http://proxy:3128");
  });
});

describe("GET /info's body", () => {
  const input = (over: Partial<InfoInput> = {}): InfoInput => ({
    id: "4e4af207-b65a-411f-a26b-bdd9c4e336c6",
    version: "0.1.0",
    config: { dataRoot: "/var/lib/hatake", hosts: [{ kind: "unix", path: "/run/hatake/docker.sock" }], insecureRegistries: [], registryMirrors: [], defaultRuntime: "crun", logLevel: "info" },
    statuses: ["running", "restarting", "paused", "exited", "created", "dead"],
    images: 3,
    storage: { mode: "overlay", fallbackReason: undefined },
    host: HOST,
    tools: { runtime: { version: "1.8.1", commit: "f8a096be" }, initBinary: "tini-static", init: { version: "0.19.0", commit: "" } },
    eventListeners: 2,
    openFiles: 30,
    activeHandles: 5,
    now: new Date("2024-05-01T10:00:00.000Z"),
    env: { HTTPS_PROXY: "http://u:p@proxy:3128", no_proxy: "localhost" },
    ...over,
  });

  it("counts containers as Docker's stateCounter", () => {
    expect(containerCounts(["running", "restarting", "paused", "exited", "created", "dead", "removing"])).toEqual({ running: 2, paused: 1, stopped: 4 });
  });

  it("fills every field the docker CLI prints", () => {
    const info = infoJson(input());
    expect(info).toMatchObject({
      ID: "4e4af207-b65a-411f-a26b-bdd9c4e336c6",
      Containers: 6,
      ContainersRunning: 2,
      ContainersPaused: 1,
      ContainersStopped: 3,
      Images: 3,
      Driver: "overlayfs",
      DriverStatus: [
        ["Backing Filesystem", "extfs"],
        ["Supports d_type", "true"],
        ["Native Overlay Diff", "true"],
      ],
      ServerVersion: "0.1.0",
      CgroupVersion: "2",
      NEventsListener: 2,
      HttpsProxy: "http://u:xxxxx@proxy:3128",
      HttpProxy: "",
      NoProxy: "localhost",
      RuncCommit: { ID: "f8a096be", Expected: "f8a096be" },
      InitCommit: { ID: "0.19.0", Expected: "0.19.0" },
      ContainerdCommit: { ID: "N/A", Expected: "N/A" },
      SystemTime: "2024-05-01T10:00:00.000Z",
      Warnings: [],
    });
    expect(info).not.toHaveProperty("KernelMemoryTCP");
    expect(info).not.toHaveProperty("Isolation");
    expect(infoJson(input({ storage: { mode: "copy", fallbackReason: "overlayfs is not available" } }))).toMatchObject({
      Driver: "native",
      DriverStatus: [
        ["Backing Filesystem", "extfs"],
        ["Overlay unavailable", "overlayfs is not available"],
      ],
    });
  });

  it("derives the registry configuration from --insecure-registry and --registry-mirror", () => {
    expect(registryConfig(["10.0.0.0/8", "reg.local:5000", "http://other.local/"], ["https://m.example.com"])).toEqual({
      AllowNondistributableArtifactsCIDRs: [],
      AllowNondistributableArtifactsHostnames: [],
      InsecureRegistryCIDRs: ["127.0.0.0/8", "10.0.0.0/8"],
      IndexConfigs: {
        "docker.io": { Name: "docker.io", Mirrors: ["https://m.example.com/"], Secure: true, Official: true },
        "other.local": { Name: "other.local", Mirrors: [], Secure: false, Official: false },
        "reg.local:5000": { Name: "reg.local:5000", Mirrors: [], Secure: false, Official: false },
      },
      Mirrors: ["https://m.example.com/"],
    });
  });

  it("warns as Docker 26 for missing kernel features and a plain-TCP API", () => {
    const weak: HostFacts = {
      ...HOST,
      cgroup: { version: "1", memoryLimit: true, swapLimit: false, kernelMemoryTcp: false, oomKillDisable: true, cpuCfs: true, cpuShares: true, cpuset: true, pidsLimit: true, io: true },
      ipv4Forwarding: false,
      bridgeNfIptables: false,
    };
    expect(infoWarnings(weak, [{ kind: "tcp", host: "127.0.0.1", port: 2375 }])).toEqual([
      "WARNING: No swap limit support",
      "WARNING: No kernel memory TCP limit support",
      "WARNING: IPv4 forwarding is disabled",
      "WARNING: bridge-nf-call-iptables is disabled",
      "WARNING: API is accessible on http://127.0.0.1:2375 without encryption.\n         Access to the remote API is equivalent to root access on the host. Refer\n         to the 'Docker daemon attack surface' section in the documentation for\n         more information: https://docs.docker.com/go/attack-surface/",
    ]);
  });
});
