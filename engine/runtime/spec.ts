import { readFileSync } from "node:fs";
import { release } from "node:os";
import { htkError } from "../../base/errors/index.ts";
import { ULIMIT_NAMES, type UlimitValue } from "../../base/units.ts";
import { defaultSeccompProfile } from "./seccomp.ts";
import { resolveUser, type UserDatabase } from "./users.ts";

/**
 * OCI runtime-spec (config.json) types — the parts HATAKE writes — and `buildSpec`, which produces
 * the spec Docker Engine 26 would hand its runtime for the same `docker run` options (moby
 * `oci/defaults.go`, `daemon/oci_linux.go`, `profiles/seccomp`). Keys are the spec's JSON names.
 */

export interface Spec {
  ociVersion: string;
  process: Process;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux: Linux;
}

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: LinuxCapabilities;
  rlimits?: PosixRlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  apparmorProfile?: string;
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export interface LinuxCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface PosixRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface Hooks {
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

export type NamespaceType = "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup";

export interface LinuxNamespace {
  type: NamespaceType;
  path?: string;
}

export interface LinuxDevice {
  path: string;
  type: "c" | "b" | "u" | "p";
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: "a" | "c" | "b";
  major?: number;
  minor?: number;
  access?: string;
}

export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
  kernel?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
}

export interface LinuxCpu {
  shares?: number;
  quota?: number;
  period?: number;
  cpus?: string;
  mems?: string;
}

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCpu;
  pids?: { limit: number };
}

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: "SCMP_CMP_NE" | "SCMP_CMP_LT" | "SCMP_CMP_LE" | "SCMP_CMP_EQ" | "SCMP_CMP_GE" | "SCMP_CMP_GT" | "SCMP_CMP_MASKED_EQ";
}

export interface LinuxSyscall {
  names: string[];
  action: "SCMP_ACT_ALLOW" | "SCMP_ACT_ERRNO" | "SCMP_ACT_KILL" | "SCMP_ACT_TRAP" | "SCMP_ACT_TRACE" | "SCMP_ACT_LOG";
  errnoRet?: number;
  args?: SeccompArg[];
}

export interface LinuxSeccomp {
  defaultAction: LinuxSyscall["action"];
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls?: LinuxSyscall[];
}

export interface Linux {
  namespaces: LinuxNamespace[];
  devices?: LinuxDevice[];
  resources?: LinuxResources;
  cgroupsPath?: string;
  sysctl?: Record<string, string>;
  seccomp?: LinuxSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: string;
}

// ---------------------------------------------------------------------------------------------------
// Docker's values.

/** The OCI version moby 26 writes (it vendors runtime-spec v1.1.0). */
export const OCI_VERSION = "1.1.0";

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Docker's default capability set, in Docker's order (moby `oci/caps/defaults.go`). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Every capability Linux knows (0 … CAP_LAST_CAP = 40), in kernel order: `--privileged` and `--cap-add ALL`. */
export const ALL_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** ALL_CAPABILITIES is in kernel order: a capability's index is its number (CAP_CHOWN 0 … CAP_CHECKPOINT_RESTORE 40). */
const ALL_CAPABILITY_NUMBERS: ReadonlyArray<readonly [string, number]> = ALL_CAPABILITIES.map((c, i) => [c, i] as const);

/** Paths hidden from unprivileged containers (moby `oci/defaults.go`). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

export const DEFAULT_READONLY_PATHS: readonly string[] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/**
 * The device cgroup rules: deny everything, then allow the devices the runtime creates in /dev (null,
 * zero, full, random, urandom, tty, console, ptmx: the OCI default devices) and deny /dev/rtc (10:229)
 * explicitly, as Docker does. The devices themselves are the runtime's defaults (`linux.devices` is empty).
 */
export function defaultDeviceRules(): LinuxDeviceCgroup[] {
  const allowC = (major: number, minor: number): LinuxDeviceCgroup => ({ allow: true, type: "c", major, minor, access: "rwm" });
  return [
    { allow: false, access: "rwm" },
    allowC(1, 5),
    allowC(1, 3),
    allowC(1, 9),
    allowC(1, 8),
    allowC(5, 0),
    allowC(5, 1),
    { allow: false, type: "c", major: 10, minor: 229, access: "rwm" },
  ];
}

/** Docker's default /dev/shm size (`--shm-size`): 64 MiB. */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/**
 * RLIMIT_NOFILE of a Docker container when no `--ulimit nofile` is given: Docker passes no rlimits, so
 * containers inherit dockerd's, which its systemd unit sets to 1048576 (LimitNOFILE=infinity, capped by
 * fs.nr_open). We write it explicitly (soft = hard), capped by the engine's own hard limit, which a
 * container without CAP_SYS_RESOURCE cannot exceed.
 */
export const DEFAULT_NOFILE = 1048576;

/** Docker refuses memory limits below 6 MiB ("Minimum memory limit allowed is 6MB"). */
export const MIN_MEMORY = 6 * 1024 * 1024;

/** `--cpus` is a CFS quota over this period (100 ms). */
export const CPU_PERIOD = 100_000;

// ---------------------------------------------------------------------------------------------------
// Options.

/** The container's network namespace. */
export type NetworkNamespace =
  /** A fresh namespace (only loopback): `--network none`, or a build step without network. */
  | { readonly kind: "new" }
  /** Join a namespace someone prepared (bridge networking, `--network container:…`). */
  | { readonly kind: "join"; readonly path: string }
  /** The host's namespace (`--network host`); no network namespace is created. */
  | { readonly kind: "host" };

export type MountRequest =
  /** `-v /src:/dst[:ro]`, `--mount type=bind`. Recursive, private propagation by default, as Docker. */
  | {
      readonly kind: "bind";
      readonly source: string;
      readonly target: string;
      readonly readonly?: boolean;
      readonly propagation?: "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave";
      readonly recursive?: boolean;
    }
  /** `--tmpfs /dst[:opts]`: Docker's defaults (noexec, nosuid, nodev) merged with `options` ("size=64m,mode=1777"). */
  | { readonly kind: "tmpfs"; readonly target: string; readonly options?: string }
  /** Anything else, written as given (an overlay, a volume driver's mount …). */
  | { readonly kind: "raw"; readonly mount: Mount };

export interface ResourceOptions {
  /** `--memory` in bytes; 0 or absent: no limit. */
  readonly memory?: number;
  /** `--memory-swap`: memory + swap in bytes; -1 unlimited; absent/0 with a memory limit: twice the memory (Docker's default). */
  readonly memorySwap?: number;
  readonly memoryReservation?: number;
  readonly memorySwappiness?: number;
  readonly oomKillDisable?: boolean;
  /** `--cpus` × 10⁹. */
  readonly nanoCpus?: number;
  readonly cpuShares?: number;
  readonly cpuPeriod?: number;
  readonly cpuQuota?: number;
  readonly cpusetCpus?: string;
  readonly cpusetMems?: string;
  /** `--pids-limit`; 0 or negative: unlimited. */
  readonly pidsLimit?: number;
}

/** `--ulimit name=soft:hard` (-1 is unlimited). */
export type Ulimit = UlimitValue;

export type SeccompMode =
  | { readonly kind: "default" }
  | { readonly kind: "unconfined" }
  | { readonly kind: "custom"; readonly profile: LinuxSeccomp };

export interface HostInfo {
  /** Go architecture name (`amd64`, `arm64`). */
  readonly arch: string;
  /** Kernel release (`uname -r`). */
  readonly kernel: string;
  /**
   * The engine's own hard RLIMIT_NOFILE. The runtime cannot raise a limit above it (the container has
   * no CAP_SYS_RESOURCE), so the default nofile is min(1048576, this). Default: unlimited.
   */
  readonly nofileHard?: number;
  /**
   * The capabilities this process may still hand out (its bounding set, `CapBnd`). `--privileged` and
   * `--cap-add ALL` mean "every capability there is" to Docker; an engine that runs with a reduced
   * bounding set (inside another container or sandbox) can only give those, and the runtime's capset
   * fails for the rest. Default: unrestricted.
   */
  readonly boundingCapabilities?: readonly string[];
}

export interface SpecOptions {
  /** The root filesystem: absolute, or relative to the bundle directory. */
  readonly rootfs: string;
  /** The process: the image's Entrypoint + Cmd as the caller resolved them. Must not be empty. */
  readonly args: readonly string[];
  /** KEY=VALUE, in order (image Env, then the user's); later entries replace earlier ones with the same key. */
  readonly env?: readonly string[];
  /**
   * Add Docker's daemon environment first (PATH, HOSTNAME, TERM=xterm with a TTY), as `docker run` does.
   * Build steps pass false (BuildKit sets only the step's env, plus PATH when it is missing). Default true.
   */
  readonly containerEnv?: boolean;
  readonly cwd?: string;
  /** `--user`: `name`, `uid`, `name:group`, `uid:gid`; default root. Names need `userDb`. */
  readonly user?: string;
  readonly groupAdd?: readonly string[];
  /** The image's /etc/passwd and /etc/group (see `readUserDatabase`); empty when absent. */
  readonly userDb?: UserDatabase;
  readonly hostname?: string;
  readonly tty?: boolean;
  readonly readonlyRootfs?: boolean;
  /** Default: a new, empty network namespace. */
  readonly network?: NetworkNamespace;
  /**
   * `--pid=host`, `--ipc=host`, `--uts=host`: use the host's namespace instead of a new one. With the
   * host's IPC namespace /dev/shm is the host's (bind-mounted), with the host's UTS namespace no hostname is set.
   */
  readonly hostNamespaces?: readonly ("pid" | "ipc" | "uts")[];
  /**
   * Host files bind-mounted over /etc/hosts, /etc/resolv.conf and /etc/hostname, as Docker does from the
   * container's folder; writable unless the root filesystem is read-only (Docker's rule).
   */
  readonly networkFiles?: { readonly hosts?: string; readonly resolvConf?: string; readonly hostname?: string };
  readonly privileged?: boolean;
  /** Capability names with or without `CAP_`, any case, or `ALL`. */
  readonly capAdd?: readonly string[];
  readonly capDrop?: readonly string[];
  /** Default: Docker's default profile (none when privileged). */
  readonly seccomp?: SeccompMode;
  readonly noNewPrivileges?: boolean;
  readonly mounts?: readonly MountRequest[];
  readonly resources?: ResourceOptions;
  readonly ulimits?: readonly Ulimit[];
  readonly sysctls?: Readonly<Record<string, string>>;
  /** `--init`: the host path of a static init (tini-static), bind-mounted at /sbin/docker-init. */
  readonly init?: { readonly hostPath: string };
  readonly oomScoreAdj?: number;
  /** `--shm-size` in bytes; default 64 MiB. */
  readonly shmSize?: number;
  /** The container's cgroup (cgroupfs path, e.g. `/hatake/<id>`). */
  readonly cgroupsPath?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  /** Default: this machine (process.arch, os.release()). */
  readonly host?: HostInfo;
}

/** Where `--init` puts the init binary in the container (moby: `/sbin/` + DefaultInitBinary). */
export const INIT_PATH = "/sbin/docker-init";

/** Node's process.arch as Go's GOARCH, which seccomp rules and image platforms use. */
export function goArch(nodeArch: string = process.arch): string {
  switch (nodeArch) {
    case "x64":
      return "amd64";
    case "ia32":
      return "386";
    case "arm":
      return "arm";
    case "ppc64":
      return "ppc64le";
    default:
      return nodeArch;
  }
}

export function thisHost(): HostInfo {
  return { arch: goArch(), kernel: release(), ...nofileHardLimit(), ...boundingSet() };
}

/** CapBnd of this process as capability names; absent when it holds every one we know. */
function boundingSet(): { boundingCapabilities?: readonly string[] } {
  try {
    const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("CapBnd:"));
    if (line === undefined) return {};
    const mask = BigInt(`0x${line.slice("CapBnd:".length).trim()}`);
    const held = ALL_CAPABILITY_NUMBERS.filter(([, n]) => (mask >> BigInt(n)) & 1n).map(([name]) => name);
    return held.length === ALL_CAPABILITY_NUMBERS.length ? {} : { boundingCapabilities: held };
  } catch {
    return {};
  }
}

/** The hard "Max open files" of this process, from /proc/self/limits. */
function nofileHardLimit(): { nofileHard?: number } {
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
    const hard = Number(line?.trim().split(/\s+/)[4]);
    return Number.isInteger(hard) && hard > 0 ? { nofileHard: hard } : {};
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------------
// buildSpec.

function invalid(setting: string, value: unknown, reason: string): Error {
  return htkError("HTK-RUNTIME-0104", { setting, value: String(value), reason });
}

/** `net_admin`, `CAP_NET_ADMIN`, `NET_ADMIN` → `CAP_NET_ADMIN`; `ALL` stays. Unknown names throw. */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === "ALL") return "ALL";
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!ALL_CAPABILITIES.includes(full)) throw invalid("capability", name, "it is not a Linux capability");
  return full;
}

/** moby `caps.TweakCapabilities`: privileged → all; cap-add ALL → all; cap-drop ALL → only cap-add; else defaults − drop + add. */
export function effectiveCapabilities(options: Pick<SpecOptions, "privileged" | "capAdd" | "capDrop"> & { readonly host?: Pick<HostInfo, "boundingCapabilities"> }): string[] {
  const bounding = options.host?.boundingCapabilities;
  const all = bounding === undefined ? [...ALL_CAPABILITIES] : ALL_CAPABILITIES.filter((c) => bounding.includes(c));
  if (options.privileged) return all;
  const add = (options.capAdd ?? []).map(normalizeCapability);
  const drop = (options.capDrop ?? []).map(normalizeCapability);
  let caps: string[];
  if (add.includes("ALL")) caps = all;
  else if (drop.includes("ALL")) caps = [...add];
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)), ...add];
  return [...new Set(caps)];
}

/** Docker's `ReplaceOrAppendEnvValues`: a later KEY=V replaces an earlier KEY; a bare `KEY` removes it. */
export function mergeEnv(...lists: ReadonlyArray<readonly string[]>): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const list of lists) {
    for (const entry of list) {
      const eq = entry.indexOf("=");
      const key = eq < 0 ? entry : entry.slice(0, eq);
      if (eq < 0) {
        values.delete(key);
        continue;
      }
      if (!values.has(key)) order.push(key);
      values.set(key, entry);
    }
  }
  return order.filter((k) => values.has(k)).map((k) => values.get(k) as string);
}

/** Mount flags that override each other (the later wins), keyed by group, as moby's MergeTmpfsOptions. */
const FLAG_GROUPS: Readonly<Record<string, string>> = {
  ro: "ro", rw: "ro",
  suid: "suid", nosuid: "suid",
  dev: "dev", nodev: "dev",
  exec: "exec", noexec: "exec",
  sync: "sync", async: "sync",
  dirsync: "dirsync",
  remount: "remount",
  mand: "mand", nomand: "mand",
  atime: "atime", noatime: "atime",
  diratime: "diratime", nodiratime: "diratime",
  bind: "bind", rbind: "bind",
  relatime: "relatime", norelatime: "relatime",
  strictatime: "strictatime", nostrictatime: "strictatime",
  private: "propagation", rprivate: "propagation", shared: "propagation", rshared: "propagation",
  slave: "propagation", rslave: "propagation", unbindable: "propagation", runbindable: "propagation",
};
const TMPFS_DATA = new Set(["size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"]);

/** moby `mount.MergeTmpfsOptions`: the last of each flag group and each `key=` wins; order kept. */
export function mergeTmpfsOptions(options: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = options.length - 1; i >= 0; i--) {
    const option = options[i] as string;
    if (option === "" || option === "defaults") continue;
    const group = FLAG_GROUPS[option];
    let key: string;
    if (group !== undefined) key = `flag:${group}`;
    else {
      const eq = option.indexOf("=");
      const name = eq < 0 ? option : option.slice(0, eq);
      if (eq < 0 || !TMPFS_DATA.has(name)) throw invalid("tmpfs option", option, "it is not a tmpfs mount option");
      key = `data:${name}`;
    }
    if (seen.has(key)) continue;
    seen.add(key);
    out.unshift(option);
  }
  return out;
}

// The docker CLI's names, and `as`, which an API client may still send (dockerd hands any name to the runtime).
const ULIMITS = new Set([...ULIMIT_NAMES, "as"]);

/** Sysctls that live in a namespace the container owns (Docker's and runc's rule). */
function checkSysctl(key: string, network: NetworkNamespace): void {
  const ipc = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
  if (ipc.includes(key) || key.startsWith("fs.mqueue.") || key === "kernel.domainname") return;
  if (key.startsWith("net.")) {
    if (network.kind === "host") throw invalid("sysctl", key, "net.* sysctls cannot be set with the host's network namespace");
    return;
  }
  throw invalid("sysctl", key, "it is not namespaced, so it would change the host; only IPC (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*) and net.* sysctls are allowed");
}

function checkInt(setting: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(setting, value, `it must be a whole number from ${min} to ${max}`);
  return value;
}

function resources(r: ResourceOptions, privileged: boolean): LinuxResources {
  const out: LinuxResources = { devices: privileged ? [{ allow: true, access: "rwm" }] : defaultDeviceRules() };
  const memory: LinuxMemory = {};
  if (r.memory !== undefined && r.memory !== 0) {
    checkInt("memory", r.memory, 0);
    if (r.memory < MIN_MEMORY) throw invalid("memory", r.memory, "Minimum memory limit allowed is 6MB");
    memory.limit = r.memory;
    // Docker: with a memory limit and no --memory-swap, the container may use as much swap as memory.
    const swap = r.memorySwap === undefined || r.memorySwap === 0 ? r.memory * 2 : r.memorySwap;
    if (swap !== -1 && swap < r.memory) throw invalid("memory-swap", swap, "Minimum memoryswap limit should be larger than memory limit");
    memory.swap = swap;
  } else if (r.memorySwap !== undefined && r.memorySwap !== 0 && r.memorySwap !== -1) {
    throw invalid("memory-swap", r.memorySwap, "You should always set the Memory limit when using Memoryswap limit");
  }
  if (r.memoryReservation !== undefined && r.memoryReservation !== 0) memory.reservation = checkInt("memory-reservation", r.memoryReservation, 0);
  if (r.memorySwappiness !== undefined && r.memorySwappiness !== -1) memory.swappiness = checkInt("memory-swappiness", r.memorySwappiness, 0, 100);
  if (r.oomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length > 0) out.memory = memory;

  const cpu: LinuxCpu = {};
  if (r.nanoCpus !== undefined && r.nanoCpus !== 0) {
    checkInt("cpus", r.nanoCpus, 0);
    if ((r.cpuPeriod ?? 0) !== 0) throw invalid("cpus", r.nanoCpus / 1e9, "Conflicting options: Nano CPUs and CPU Period cannot both be set");
    if ((r.cpuQuota ?? 0) !== 0) throw invalid("cpus", r.nanoCpus / 1e9, "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    cpu.period = CPU_PERIOD;
    cpu.quota = Math.round((r.nanoCpus * CPU_PERIOD) / 1e9);
  }
  if (r.cpuPeriod !== undefined && r.cpuPeriod !== 0) cpu.period = checkInt("cpu-period", r.cpuPeriod, 1000, 1_000_000);
  if (r.cpuQuota !== undefined && r.cpuQuota !== 0) {
    if (r.cpuQuota !== -1) checkInt("cpu-quota", r.cpuQuota, 1000);
    cpu.quota = r.cpuQuota;
  }
  if (r.cpuShares !== undefined && r.cpuShares !== 0) cpu.shares = checkInt("cpu-shares", r.cpuShares, 2, 262144);
  if (r.cpusetCpus !== undefined && r.cpusetCpus !== "") {
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(r.cpusetCpus)) throw invalid("cpuset-cpus", r.cpusetCpus, "it must be a list like 0-3,5");
    cpu.cpus = r.cpusetCpus;
  }
  if (r.cpusetMems !== undefined && r.cpusetMems !== "") cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;

  if (r.pidsLimit !== undefined && r.pidsLimit > 0) out.pids = { limit: checkInt("pids-limit", r.pidsLimit, 1) };
  return out;
}

function bySpecDepth(a: Mount, b: Mount): number {
  // Docker mounts parents before children (sortMounts: by the number of path components).
  return a.destination.split("/").length - b.destination.split("/").length;
}

/**
 * The runtime spec Docker would write for these options. Pure: the image's user database comes in
 * `userDb` (read it with `readUserDatabase`). Throws HTK-RUNTIME-0102 for an unknown user or group
 * and HTK-RUNTIME-0104 for an invalid value.
 */
export function buildSpec(opts: SpecOptions): Spec {
  if (opts.args.length === 0) throw invalid("command", "", "a container needs a command to run (no Cmd or Entrypoint)");
  const host = opts.host ?? thisHost();
  const privileged = opts.privileged ?? false;
  const network = opts.network ?? { kind: "new" };
  const tty = opts.tty ?? false;
  const user = resolveUser(opts.userDb ?? { passwd: [], group: [] }, opts.user ?? "", opts.groupAdd ?? []);

  // Environment: Docker's daemon variables, then the container's; HOME from passwd when missing (runc's rule).
  // Without a UTS namespace of its own, a container cannot have a hostname (the runtime refuses one).
  const hostname = opts.hostNamespaces?.includes("uts") ? undefined : opts.hostname;
  const daemonEnv = (opts.containerEnv ?? true)
    ? [`PATH=${DEFAULT_PATH}`, ...(hostname !== undefined ? [`HOSTNAME=${hostname}`] : []), ...(tty ? ["TERM=xterm"] : [])]
    : [];
  let env = mergeEnv(daemonEnv, opts.env ?? []);
  if (!env.some((e) => e.startsWith("PATH="))) env = [`PATH=${DEFAULT_PATH}`, ...env];
  if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${user.home}`);

  const caps = effectiveCapabilities({ ...opts, host });
  const cwd = opts.cwd === undefined || opts.cwd === "" ? "/" : opts.cwd;
  if (!cwd.startsWith("/")) throw invalid("working directory", cwd, "it must be an absolute path");

  // rlimits: Docker's effective default for nofile, overridden by --ulimit.
  const nofile = Math.min(DEFAULT_NOFILE, host.nofileHard ?? DEFAULT_NOFILE);
  const rlimits = new Map<string, PosixRlimit>([["nofile", { type: "RLIMIT_NOFILE", hard: nofile, soft: nofile }]]);
  for (const u of opts.ulimits ?? []) {
    const name = u.name.toLowerCase();
    if (!ULIMITS.has(name)) throw invalid("ulimit", u.name, "it is not a resource limit name (nofile, nproc, core, memlock …)");
    if (u.soft > u.hard) throw invalid("ulimit", `${u.name}=${u.soft}:${u.hard}`, "ulimit soft limit must be less than or equal to hard limit");
    rlimits.set(name, { type: `RLIMIT_${name.toUpperCase()}`, hard: u.hard, soft: u.soft });
  }

  if (opts.oomScoreAdj !== undefined) checkInt("oom-score-adj", opts.oomScoreAdj, -1000, 1000);
  const args = opts.init ? [INIT_PATH, "--", ...opts.args] : [...opts.args];

  const process_: Process = {
    terminal: tty,
    user: { uid: user.uid, gid: user.gid, additionalGids: [...user.additionalGids] },
    args,
    env,
    cwd,
    capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
    rlimits: [...rlimits.values()],
    noNewPrivileges: opts.noNewPrivileges ?? false,
    oomScoreAdj: opts.oomScoreAdj ?? 0,
  };

  // Default mounts (moby oci/defaults.go), /dev/shm sized as --shm-size; privileged gets rw sysfs and cgroups.
  const shmSize = opts.shmSize ?? DEFAULT_SHM_SIZE;
  if (opts.shmSize !== undefined) checkInt("shm-size", shmSize, 1);
  const defaults: Mount[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", privileged ? "rw" : "ro"] },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: [privileged ? "rw" : "ro", "nosuid", "noexec", "nodev"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${shmSize}`] },
  ];
  const userMounts: Mount[] = [];
  for (const m of opts.mounts ?? []) {
    switch (m.kind) {
      case "bind": {
        if (!m.target.startsWith("/")) throw invalid("mount target", m.target, "it must be an absolute path");
        const options = [m.recursive === false ? "bind" : "rbind", ...(m.readonly ? ["ro"] : []), m.propagation ?? "rprivate"];
        userMounts.push({ destination: m.target, type: "bind", source: m.source, options });
        break;
      }
      case "tmpfs": {
        if (!m.target.startsWith("/")) throw invalid("mount target", m.target, "it must be an absolute path");
        const extra = m.options === undefined || m.options === "" ? [] : m.options.split(",");
        const options = mergeTmpfsOptions(["noexec", "nosuid", "nodev", "rprivate", ...extra]);
        userMounts.push({ destination: m.target, type: "tmpfs", source: "tmpfs", options });
        break;
      }
      case "raw":
        userMounts.push({ ...m.mount, ...(m.mount.options ? { options: [...m.mount.options] } : {}) });
        break;
      default:
        assertNever(m);
    }
  }
  const files = opts.networkFiles ?? {};
  for (const [target, source] of [["/etc/resolv.conf", files.resolvConf], ["/etc/hostname", files.hostname], ["/etc/hosts", files.hosts]] as const) {
    if (source !== undefined) userMounts.push({ destination: target, type: "bind", source, options: ["rbind", "rprivate", ...(opts.readonlyRootfs ? ["ro"] : [])] });
  }
  const hostNs = new Set(opts.hostNamespaces ?? []);
  // --ipc=host: the host's /dev/shm, as Docker binds it.
  if (hostNs.has("ipc")) userMounts.push({ destination: "/dev/shm", type: "bind", source: "/dev/shm", options: ["rbind", "rprivate"] });
  if (opts.init) userMounts.push({ destination: INIT_PATH, type: "bind", source: opts.init.hostPath, options: ["bind", "ro"] });
  // A user mount replaces a default one at the same place (`--tmpfs /dev/shm`).
  const userTargets = new Set(userMounts.map((m) => m.destination));
  const mounts = [...defaults.filter((m) => !userTargets.has(m.destination)), ...[...userMounts].sort(bySpecDepth)];

  const namespaces: LinuxNamespace[] = [{ type: "mount" }];
  switch (network.kind) {
    case "new":
      namespaces.push({ type: "network" });
      break;
    case "join":
      namespaces.push({ type: "network", path: network.path });
      break;
    case "host":
      break;
    default:
      assertNever(network);
  }
  for (const ns of ["uts", "pid", "ipc"] as const) if (!hostNs.has(ns)) namespaces.push({ type: ns });

  const sysctl: Record<string, string> = {};
  if (network.kind !== "host") {
    // Docker 20.10+: containers with their own network may bind low ports and ping without capabilities.
    sysctl["net.ipv4.ip_unprivileged_port_start"] = "0";
    sysctl["net.ipv4.ping_group_range"] = "0 2147483647";
  }
  for (const [key, value] of Object.entries(opts.sysctls ?? {})) {
    checkSysctl(key, network);
    sysctl[key] = value;
  }

  const seccompMode: SeccompMode = opts.seccomp ?? (privileged ? { kind: "unconfined" } : { kind: "default" });
  let seccomp: LinuxSeccomp | undefined;
  switch (seccompMode.kind) {
    case "default":
      seccomp = defaultSeccompProfile({ capabilities: caps, arch: host.arch, kernel: host.kernel });
      break;
    case "unconfined":
      seccomp = undefined;
      break;
    case "custom":
      seccomp = seccompMode.profile;
      break;
    default:
      assertNever(seccompMode);
  }

  const linux: Linux = {
    namespaces,
    devices: [],
    resources: resources(opts.resources ?? {}, privileged),
    sysctl,
    ...(seccomp ? { seccomp } : {}),
    maskedPaths: privileged ? [] : [...DEFAULT_MASKED_PATHS],
    readonlyPaths: privileged ? [] : [...DEFAULT_READONLY_PATHS],
    ...(opts.cgroupsPath !== undefined ? { cgroupsPath: opts.cgroupsPath } : {}),
  };

  return {
    ociVersion: OCI_VERSION,
    process: process_,
    root: { path: opts.rootfs, readonly: opts.readonlyRootfs ?? false },
    ...(hostname !== undefined ? { hostname } : {}),
    mounts,
    ...(opts.annotations ? { annotations: { ...opts.annotations } } : {}),
    linux,
  };
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
