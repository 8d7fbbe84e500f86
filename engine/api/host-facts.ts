import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statfsSync, writeFileSync } from "node:fs";
import { availableParallelism, hostname, machine, release, totalmem } from "node:os";
import { basename, join } from "node:path";
import { findInitBinary } from "../runtime/index.ts";

/**
 * What `/info` reports about the host, read from /proc, /sys and /etc/os-release the way Docker's
 * pkg/sysinfo, pkg/parsers/operatingsystem and pkg/meminfo read them. Every reader takes a root
 * (default "/") so tests describe a host with a few files instead of depending on the machine.
 */
export interface HostFacts {
  readonly name: string;
  readonly kernelVersion: string;
  /** `uname -m` (Docker's Info.Architecture is the machine, "x86_64", not GOARCH). */
  readonly architecture: string;
  readonly operatingSystem: string;
  readonly osVersion: string;
  readonly ncpu: number;
  readonly memTotal: number;
  readonly cgroup: CgroupFacts;
  readonly ipv4Forwarding: boolean;
  readonly bridgeNfIptables: boolean;
  readonly bridgeNfIp6tables: boolean;
  /** `Backing Filesystem` of the data root ("extfs", "xfs", …), "" when unknown. */
  readonly backingFilesystem: string;
  readonly rootless: boolean;
}

export interface CgroupFacts {
  readonly version: "1" | "2";
  readonly memoryLimit: boolean;
  readonly swapLimit: boolean;
  readonly kernelMemoryTcp: boolean;
  readonly oomKillDisable: boolean;
  readonly cpuCfs: boolean;
  readonly cpuShares: boolean;
  readonly cpuset: boolean;
  readonly pidsLimit: boolean;
  /** cgroup v2 io controller (Docker warns about io.weight/io.max without it). */
  readonly io: boolean;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** /etc/os-release's KEY=value lines, quotes removed (Docker falls back to /usr/lib/os-release). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m === null) continue;
    let v = m[2] ?? "";
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1).replace(/\\(["'\\$`])/g, "$1");
    out[m[1] ?? ""] = v;
  }
  return out;
}

/**
 * Docker's operatingsystem.IsContainerized: a line of PID 1's cgroups that ends in neither ":/" nor
 * ":/init.scope" means the daemon runs inside a container.
 */
export function isContainerized(proc1Cgroup: string): boolean {
  return proc1Cgroup.split("\n").some((line) => line !== "" && !line.endsWith(":/") && !line.endsWith(":/init.scope"));
}

/** What the cgroup hierarchy supports, as Docker's sysinfo.New reads it (v1: per-controller files; v2: the root's controllers). */
export function probeCgroups(root = "/"): CgroupFacts {
  const fs = join(root, "sys/fs/cgroup");
  const controllers = read(join(fs, "cgroup.controllers"));
  if (controllers !== undefined) {
    const have = new Set(controllers.trim().split(/\s+/));
    // Swap accounting shows as memory.swap.max in the non-root groups.
    const child = firstChildWith(fs, "memory.max");
    return {
      version: "2",
      memoryLimit: have.has("memory"),
      swapLimit: have.has("memory") && child !== undefined && existsSync(join(child, "memory.swap.max")),
      kernelMemoryTcp: false,
      oomKillDisable: false,
      cpuCfs: have.has("cpu"),
      cpuShares: have.has("cpu"),
      cpuset: have.has("cpuset"),
      pidsLimit: have.has("pids"),
      io: have.has("io"),
    };
  }
  const has = (controller: string, file: string): boolean => existsSync(join(fs, controller, file));
  return {
    version: "1",
    memoryLimit: has("memory", "memory.limit_in_bytes"),
    swapLimit: has("memory", "memory.memsw.limit_in_bytes"),
    kernelMemoryTcp: has("memory", "memory.kmem.tcp.limit_in_bytes"),
    oomKillDisable: has("memory", "memory.oom_control"),
    cpuCfs: has("cpu", "cpu.cfs_quota_us") && has("cpu", "cpu.cfs_period_us"),
    cpuShares: has("cpu", "cpu.shares"),
    cpuset: has("cpuset", "cpuset.cpus"),
    pidsLimit: existsSync(join(fs, "pids")),
    io: true,
  };
}

function firstChildWith(dir: string, file: string): string | undefined {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && existsSync(join(dir, e.name, file))) return join(dir, e.name);
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** statfs f_type → the names Docker's graphdriver FsNames prints as "Backing Filesystem". */
const FS_NAMES: ReadonlyMap<number, string> = new Map([
  [0xef53, "extfs"],
  [0x58465342, "xfs"],
  [0x9123683e, "btrfs"],
  [0x01021994, "tmpfs"],
  [0x794c7630, "overlayfs"],
  [0x2fc12fc1, "zfs"],
  [0x6969, "nfs"],
  [0x65735546, "fuse"],
  [0x858458f6, "ramfs"],
  [0xf15f, "ecryptfs"],
  [0x73717368, "squashfs"],
]);

export function backingFilesystem(path: string): string {
  try {
    const type = statfsSync(path).type;
    return FS_NAMES.get(type) ?? `<unknown>`;
  } catch {
    return "";
  }
}

/** The host as it is now (cheap reads only; `/info` calls it per request, as Docker does). */
export function probeHost(dataRoot: string, root = "/"): HostFacts {
  const osRelease = parseOsRelease(read(join(root, "etc/os-release")) ?? read(join(root, "usr/lib/os-release")) ?? "");
  const pretty = osRelease["PRETTY_NAME"] ?? "Linux";
  const containerized = isContainerized(read(join(root, "proc/1/cgroup")) ?? "");
  const flag = (p: string): boolean => (read(join(root, p)) ?? "").trim() === "1";
  return {
    name: hostname(),
    kernelVersion: release(),
    architecture: machine(),
    operatingSystem: containerized ? `${pretty} (containerized)` : pretty,
    osVersion: osRelease["VERSION_ID"] ?? "",
    ncpu: availableParallelism(),
    memTotal: memTotal(read(join(root, "proc/meminfo"))) ?? totalmem(),
    cgroup: probeCgroups(root),
    ipv4Forwarding: flag("proc/sys/net/ipv4/ip_forward"),
    bridgeNfIptables: flag("proc/sys/net/bridge/bridge-nf-call-iptables"),
    bridgeNfIp6tables: flag("proc/sys/net/bridge/bridge-nf-call-ip6tables"),
    backingFilesystem: backingFilesystem(dataRoot),
    rootless: (process.getuid?.() ?? 0) !== 0,
  };
}

/** pkg/meminfo: MemTotal in bytes. */
export function memTotal(meminfo: string | undefined): number | undefined {
  const m = /^MemTotal:\s+(\d+)\s*kB/m.exec(meminfo ?? "");
  return m === null ? undefined : Number(m[1]) * 1024;
}

/** A runtime's or init's version line and commit, as Docker's parseRuntimeVersion/parseInitVersion read them. */
export interface ToolVersion {
  readonly version: string;
  readonly commit: string;
}

/** `crun --version`: "crun version 1.8.1\ncommit: f8a0…" (runc has the same shape). */
export function parseRuntimeVersion(text: string): ToolVersion | undefined {
  let version = "";
  let commit = "";
  for (const line of text.trim().split("\n")) {
    if (line.includes("version") && version === "") version = line.split("version").at(-1)?.trim() ?? "";
    else if (line.startsWith("commit:")) commit = line.slice("commit:".length).trim();
  }
  return version === "" && commit === "" ? undefined : { version, commit };
}

/** `docker-init --version`: "tini version 0.19.0 - git.de40ad0" (Debian's tini has no git part). */
export function parseInitVersion(text: string): ToolVersion | undefined {
  const [head = "", tail = ""] = text.trim().split(" - ");
  const version = head.startsWith("tini version ") ? head.slice("tini version ".length).trim() : "";
  const git = /^git\.([0-9a-f]+)$/.exec(tail.trim());
  const commit = git?.[1] ?? "";
  return version === "" && commit === "" ? undefined : { version, commit };
}

function run(binary: string, args: readonly string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(binary, [...args], { timeout: 5_000, maxBuffer: 64 * 1024 }, (err, stdout) => resolve(err === null ? stdout : undefined));
  });
}

/** The runtime and init binaries' versions: asked once per daemon (they do not change under it). */
export interface ToolVersions {
  readonly runtime: ToolVersion | undefined;
  readonly initBinary: string;
  readonly init: ToolVersion | undefined;
}

export async function probeTools(runtimeBinary: string): Promise<ToolVersions> {
  const initPath = findInitBinary();
  const [rt, init] = await Promise.all([run(runtimeBinary, ["--version"]), initPath === undefined ? Promise.resolve(undefined) : run(initPath, ["--version"])]);
  return {
    runtime: rt === undefined ? undefined : parseRuntimeVersion(rt),
    initBinary: initPath === undefined ? "" : basename(initPath),
    init: init === undefined ? undefined : parseInitVersion(init),
  };
}

/**
 * The daemon's ID (Info.ID): a UUID made once and kept in `<dataRoot>/engine-id`, as dockerd keeps
 * its own, so it survives restarts.
 */
export function engineId(dataRoot: string): string {
  const path = join(dataRoot, "engine-id");
  const existing = read(path)?.trim();
  if (existing !== undefined && existing !== "") return existing;
  const id = randomUUID();
  mkdirSync(dataRoot, { recursive: true });
  writeFileSync(`${path}.tmp`, `${id}\n`);
  renameSync(`${path}.tmp`, path);
  return id;
}

/** Docker's config.MaskCredentials: the password of a proxy URL becomes "xxxxx". */
export function maskCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === "" && u.username === "") return url;
    return url.replace(/\/\/([^:@/]*)(:[^@/]*)?@/, (_m, user: string) => `//${user}:xxxxx@`);
  } catch {
    return url;
  }
}
