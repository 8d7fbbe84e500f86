import { readdir } from "node:fs/promises";
import { isIP } from "node:net";
import type { DaemonConfig } from "../daemon/config.ts";
import type { EngineServices } from "../daemon/services.ts";
import type { ContainerStatus } from "../state/index.ts";
import { engineId, maskCredentials, probeHost, probeTools, type HostFacts, type ToolVersions } from "./host-facts.ts";
import { sendJson } from "./respond.ts";
import type { Route } from "./types.ts";

/** What `/info` is made of besides the host: the daemon's own figures at the time of the request. */
export interface InfoInput {
  readonly id: string;
  readonly version: string;
  readonly config: Pick<DaemonConfig, "dataRoot" | "hosts" | "insecureRegistries" | "registryMirrors" | "defaultRuntime" | "logLevel">;
  readonly statuses: readonly ContainerStatus[];
  readonly images: number;
  /** The snapshotter's mode and, in copy mode, why overlayfs is not used. */
  readonly storage: { readonly mode: "overlay" | "copy"; readonly fallbackReason: string | undefined };
  readonly host: HostFacts;
  readonly tools: ToolVersions;
  readonly eventListeners: number;
  readonly openFiles: number;
  readonly activeHandles: number;
  readonly now: Date;
  readonly env: NodeJS.ProcessEnv;
}

/** Docker's stateCounter: paused, running (restarting counts as running: its State.Running is true), the rest stopped. */
export function containerCounts(statuses: readonly ContainerStatus[]): { running: number; paused: number; stopped: number } {
  let running = 0;
  let paused = 0;
  let stopped = 0;
  for (const s of statuses) {
    if (s === "paused") paused++;
    else if (s === "running" || s === "restarting") running++;
    else stopped++;
  }
  return { running, paused, stopped };
}

/**
 * Docker's RegistryServiceConfig for the daemon's `--insecure-registry` and `--registry-mirror`: CIDRs
 * join 127.0.0.0/8 (always insecure) in InsecureRegistryCIDRs, host names get an IndexConfigs entry with
 * Secure false, docker.io is the official index with the mirrors (normalised with a final "/").
 */
export function registryConfig(insecure: readonly string[], mirrors: readonly string[]): Record<string, unknown> {
  const normalisedMirrors = mirrors.map((m) => (m.endsWith("/") ? m : `${m}/`));
  const cidrs = ["127.0.0.0/8"];
  const index: Record<string, unknown> = {};
  for (const entry of insecure) {
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    if (cidr !== null && isIP(cidr[1] ?? "") !== 0) {
      if (!cidrs.includes(entry)) cidrs.push(entry);
      continue;
    }
    const name = entry.replace(/^https?:\/\//, "").replace(/\/+$/, "");
    index[name] = { Name: name, Mirrors: [], Secure: false, Official: false };
  }
  const indexConfigs: Record<string, unknown> = { "docker.io": { Name: "docker.io", Mirrors: normalisedMirrors, Secure: true, Official: true } };
  for (const k of Object.keys(index).sort()) indexConfigs[k] = index[k];
  return {
    AllowNondistributableArtifactsCIDRs: [],
    AllowNondistributableArtifactsHostnames: [],
    InsecureRegistryCIDRs: cidrs,
    IndexConfigs: indexConfigs,
    Mirrors: normalisedMirrors,
  };
}

/** The warnings Docker 26's fillPlatformInfo and fillAPIInfo give for this host and configuration. */
export function infoWarnings(host: HostFacts, hosts: DaemonConfig["hosts"]): string[] {
  const w: string[] = [];
  const cg = host.cgroup;
  if (!cg.memoryLimit) w.push("WARNING: No memory limit support");
  if (!cg.swapLimit) w.push("WARNING: No swap limit support");
  if (cg.version === "1" && !cg.kernelMemoryTcp) w.push("WARNING: No kernel memory TCP limit support");
  if (cg.version === "1" && !cg.oomKillDisable) w.push("WARNING: No oom kill disable support");
  if (!cg.cpuCfs) w.push("WARNING: No cpu cfs quota support", "WARNING: No cpu cfs period support");
  if (!cg.cpuShares) w.push("WARNING: No cpu shares support");
  if (!cg.cpuset) w.push("WARNING: No cpuset support");
  if (cg.version === "2" && !cg.io) w.push("WARNING: No io.weight support", "WARNING: No io.weight (per device) support", "WARNING: No io.max (rbps) support", "WARNING: No io.max (wbps) support", "WARNING: No io.max (riops) support", "WARNING: No io.max (wiops) support");
  if (!host.ipv4Forwarding) w.push("WARNING: IPv4 forwarding is disabled");
  if (!host.bridgeNfIptables) w.push("WARNING: bridge-nf-call-iptables is disabled");
  if (!host.bridgeNfIp6tables) w.push("WARNING: bridge-nf-call-ip6tables is disabled");
  for (const h of hosts) {
    if (h.kind !== "tcp") continue;
    const addr = `${h.host.includes(":") ? `[${h.host}]` : h.host}:${h.port}`;
    w.push(
      `WARNING: API is accessible on http://${addr} without encryption.\n         Access to the remote API is equivalent to root access on the host. Refer\n         to the 'Docker daemon attack surface' section in the documentation for\n         more information: https://docs.docker.com/go/attack-surface/`,
    );
  }
  return w;
}

function commit(v: { readonly commit: string; readonly version: string } | undefined): { ID: string; Expected: string } {
  const id = v === undefined ? "N/A" : v.commit !== "" ? v.commit : v.version;
  return { ID: id, Expected: id };
}

/**
 * `GET /info` in Docker 26's SystemInfo shape (API v1.45), every field the docker CLI reads. Fields
 * Docker marks omitempty and leaves empty on Linux (Isolation, ProductLicense, DefaultAddressPools,
 * GenericResources) are left out. The storage driver is the snapshotter: "overlayfs" (containerd's
 * name for it) or "native" when it copies trees because overlayfs is unavailable.
 */
export function infoJson(i: InfoInput): Record<string, unknown> {
  const counts = containerCounts(i.statuses);
  const h = i.host;
  const cg = h.cgroup;
  const driverStatus: Array<[string, string]> =
    i.storage.mode === "overlay"
      ? [
          ["Backing Filesystem", h.backingFilesystem],
          ["Supports d_type", "true"],
          ["Native Overlay Diff", "true"],
        ]
      : [
          ["Backing Filesystem", h.backingFilesystem],
          ["Overlay unavailable", i.storage.fallbackReason ?? "copy mode"],
        ];
  const security = ["name=seccomp,profile=builtin", ...(h.rootless ? ["name=rootless"] : [])];
  const env = (...names: string[]): string => names.map((n) => i.env[n]).find((v) => v !== undefined && v !== "") ?? "";
  return {
    ID: i.id,
    Containers: counts.running + counts.paused + counts.stopped,
    ContainersRunning: counts.running,
    ContainersPaused: counts.paused,
    ContainersStopped: counts.stopped,
    Images: i.images,
    Driver: i.storage.mode === "overlay" ? "overlayfs" : "native",
    DriverStatus: driverStatus,
    Plugins: { Volume: ["local"], Network: ["bridge", "host", "null"], Authorization: [], Log: ["json-file"] },
    MemoryLimit: cg.memoryLimit,
    SwapLimit: cg.swapLimit,
    ...(cg.kernelMemoryTcp ? { KernelMemoryTCP: true } : {}),
    CpuCfsPeriod: cg.cpuCfs,
    CpuCfsQuota: cg.cpuCfs,
    CPUShares: cg.cpuShares,
    CPUSet: cg.cpuset,
    PidsLimit: cg.pidsLimit,
    IPv4Forwarding: h.ipv4Forwarding,
    BridgeNfIptables: h.bridgeNfIptables,
    BridgeNfIp6tables: h.bridgeNfIp6tables,
    Debug: i.config.logLevel === "debug",
    NFd: i.openFiles,
    OomKillDisable: cg.oomKillDisable,
    NGoroutines: i.activeHandles,
    SystemTime: i.now.toISOString(),
    LoggingDriver: "json-file",
    CgroupDriver: "cgroupfs",
    CgroupVersion: cg.version,
    NEventsListener: i.eventListeners,
    KernelVersion: h.kernelVersion,
    OperatingSystem: h.operatingSystem,
    OSVersion: h.osVersion,
    OSType: "linux",
    Architecture: h.architecture,
    IndexServerAddress: "https://index.docker.io/v1/",
    RegistryConfig: registryConfig(i.config.insecureRegistries, i.config.registryMirrors),
    NCPU: h.ncpu,
    MemTotal: h.memTotal,
    DockerRootDir: i.config.dataRoot,
    HttpProxy: maskCredentials(env("HTTP_PROXY", "http_proxy")),
    HttpsProxy: maskCredentials(env("HTTPS_PROXY", "https_proxy")),
    NoProxy: env("NO_PROXY", "no_proxy"),
    Name: h.name,
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: i.version,
    Runtimes: { [i.config.defaultRuntime]: { path: i.config.defaultRuntime } },
    DefaultRuntime: i.config.defaultRuntime,
    Swarm: { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null },
    LiveRestoreEnabled: false,
    InitBinary: i.tools.initBinary,
    ContainerdCommit: { ID: "N/A", Expected: "N/A" },
    RuncCommit: commit(i.tools.runtime),
    InitCommit: commit(i.tools.init),
    SecurityOptions: security,
    CDISpecDirs: [],
    Warnings: infoWarnings(h, i.config.hosts),
  };
}

/** Open file descriptors of this process (Docker's fileutils.GetTotalUsedFds). */
async function openFiles(): Promise<number> {
  return (await readdir("/proc/self/fd").catch(() => [])).length;
}

/** `GET /info` (the system family: `/_ping` and `/version` are in system.ts). */
export function systemInfoRoutes(services: Pick<EngineServices, "config" | "info" | "state" | "images" | "snapshots">): Route[] {
  let tools: Promise<ToolVersions> | undefined;
  let id: string | undefined;
  return [
    {
      method: "GET",
      pattern: "/info",
      query: [],
      async handle(ctx) {
        tools ??= probeTools(services.config.defaultRuntime);
        id ??= engineId(services.config.dataRoot);
        const body = infoJson({
          id,
          version: services.info.version,
          config: services.config,
          statuses: services.state.containers.all().map((c) => c.status),
          images: services.images.images().length,
          storage: { mode: services.snapshots.mode, fallbackReason: services.snapshots.fallbackReason },
          host: probeHost(services.config.dataRoot),
          tools: await tools,
          eventListeners: services.state.events.subscriberCount,
          openFiles: await openFiles(),
          activeHandles: process.getActiveResourcesInfo().length,
          now: new Date(),
          env: process.env,
        });
        sendJson(ctx.res, 200, body);
      },
    },
  ];
}
