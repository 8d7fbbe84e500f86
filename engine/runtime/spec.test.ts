import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { parseIoServiceBytesV1, parseIoStatV2 } from "./cgroups.ts";
import { resultFromExit, signalArg, signalName } from "./crun.ts";
import { defaultSeccompProfile, kernelAtLeast } from "./seccomp.ts";
import {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  buildSpec,
  effectiveCapabilities,
  mergeEnv,
  mergeTmpfsOptions,
  type Spec,
  type SpecOptions,
} from "./spec.ts";
import { parseGroup, parsePasswd, resolveUser, type UserDatabase } from "./users.ts";

// The spec builder against Docker Engine 26's values (moby oci/defaults.go, daemon/oci_linux.go,
// profiles/seccomp/default.json).

const HOST = { arch: "amd64", kernel: "6.1.0", nofileHard: 1048576 };
const DB: UserDatabase = {
  passwd: parsePasswd(
    "root:x:0:0:root:/root:/bin/sh\n# comment\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\nbad:x:notanumber:1::/:\napp:x:1000:1000::/srv/app:/bin/sh\n",
  ),
  group: parseGroup("root:x:0:\nwheel:x:10:root,app\nnobody:x:65534:\napp:x:1000:\ndocker:x:999:app\n"),
};

function build(extra: Partial<SpecOptions> = {}): Spec {
  return buildSpec({ rootfs: "/rootfs", args: ["sh"], userDb: DB, host: HOST, hostname: "abc123", ...extra });
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}

describe("buildSpec: Docker's defaults", () => {
  const spec = build();

  it("uses Docker's default capabilities in bounding, effective and permitted, and no inheritable set", () => {
    expect(DEFAULT_CAPABILITIES).toEqual([
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
      "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]);
    expect(spec.process.capabilities).toEqual({ bounding: DEFAULT_CAPABILITIES, effective: DEFAULT_CAPABILITIES, permitted: DEFAULT_CAPABILITIES });
    expect(ALL_CAPABILITIES).toHaveLength(41);
  });

  it("mounts /proc, /dev, /dev/pts, /sys, /sys/fs/cgroup, /dev/mqueue and a 64 MiB /dev/shm as Docker", () => {
    expect(spec.mounts).toEqual([
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro", "nosuid", "noexec", "nodev"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"] },
    ]);
  });

  it("masks and write-protects Docker's /proc and /sys paths", () => {
    expect(spec.linux.maskedPaths).toEqual([
      "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
      "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]);
    expect(spec.linux.readonlyPaths).toEqual(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
  });

  it("creates mount, network, uts, pid and ipc namespaces and allows only the default devices", () => {
    expect(spec.linux.namespaces).toEqual([{ type: "mount" }, { type: "network" }, { type: "uts" }, { type: "pid" }, { type: "ipc" }]);
    expect(spec.linux.devices).toEqual([]);
    expect(spec.linux.resources?.devices).toEqual([
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 8, access: "rwm" },
      { allow: true, type: "c", major: 5, minor: 0, access: "rwm" },
      { allow: true, type: "c", major: 5, minor: 1, access: "rwm" },
      { allow: false, type: "c", major: 10, minor: 229, access: "rwm" },
    ]);
  });

  it("sets Docker's process defaults: root, cwd /, PATH, HOSTNAME, HOME, nofile, oom score 0", () => {
    expect(spec.ociVersion).toBe("1.1.0");
    expect(spec.process.user).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10] });
    expect(spec.process.cwd).toBe("/");
    expect(spec.process.terminal).toBe(false);
    expect(spec.process.env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=abc123", "HOME=/root"]);
    expect(spec.process.rlimits).toEqual([{ type: "RLIMIT_NOFILE", hard: 1048576, soft: 1048576 }]);
    expect(spec.process.noNewPrivileges).toBe(false);
    expect(spec.process.oomScoreAdj).toBe(0);
    expect(spec.hostname).toBe("abc123");
    expect(spec.root).toEqual({ path: "/rootfs", readonly: false });
  });

  it("lets a container with its own network bind low ports and ping (Docker 20.10+ sysctls)", () => {
    expect(spec.linux.sysctl).toEqual({ "net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647" });
  });

  it("applies Docker's seccomp profile for the container's capabilities", () => {
    const seccomp = spec.linux.seccomp;
    expect(seccomp?.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect(seccomp?.defaultErrnoRet).toBe(1);
    expect(seccomp?.architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    const names = (seccomp?.syscalls ?? []).flatMap((s) => (s.action === "SCMP_ACT_ALLOW" ? s.names : []));
    expect(names).toContain("read");
    expect(names).toContain("arch_prctl");
    expect(names).toContain("chroot"); // CAP_SYS_CHROOT is a default capability
    expect(names).toContain("ptrace"); // kernel ≥ 4.8
    expect(names).not.toContain("mount");
    expect(names).not.toContain("reboot");
    expect(seccomp?.syscalls).toContainEqual({ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 });
    expect(seccomp?.syscalls).toContainEqual({ names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 2114060288, op: "SCMP_CMP_MASKED_EQ" }] });
    expect(seccomp?.syscalls).toContainEqual({ names: ["socket"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 40, op: "SCMP_CMP_NE" }] });
  });
});

describe("buildSpec: options", () => {
  it("cap-add and cap-drop as Docker's TweakCapabilities, with names in any form", () => {
    expect(effectiveCapabilities({ capDrop: ["chown", "CAP_KILL"], capAdd: ["net_admin"] })).toEqual([
      ...DEFAULT_CAPABILITIES.filter((c) => c !== "CAP_CHOWN" && c !== "CAP_KILL"),
      "CAP_NET_ADMIN",
    ]);
    expect(effectiveCapabilities({ capDrop: ["ALL"], capAdd: ["CHOWN"] })).toEqual(["CAP_CHOWN"]);
    expect(effectiveCapabilities({ capDrop: ["ALL"] })).toEqual([]);
    expect(effectiveCapabilities({ capAdd: ["all"], capDrop: ["CHOWN"] })).toEqual(ALL_CAPABILITIES);
    // An engine with a reduced bounding set (inside a sandbox) can only hand out what it holds.
    const bounding = ALL_CAPABILITIES.filter((c) => c !== "CAP_SYS_RESOURCE");
    expect(effectiveCapabilities({ privileged: true, host: { boundingCapabilities: bounding } })).toEqual(bounding);
    expect(effectiveCapabilities({ capAdd: ["ALL"], host: { boundingCapabilities: bounding } })).not.toContain("CAP_SYS_RESOURCE");
    const err = errorOf(() => build({ capAdd: ["NET_ADMINN"] }));
    expect(isHtkError(err, "HTK-RUNTIME-0104")).toBe(true);
    expect(String(err)).toContain('"NET_ADMINN"');
  });

  it("gives CAP_SYS_ADMIN the syscalls Docker's profile ties to it", () => {
    const seccomp = build({ capAdd: ["SYS_ADMIN"] }).linux.seccomp;
    const allowed = (seccomp?.syscalls ?? []).flatMap((s) => (s.action === "SCMP_ACT_ALLOW" && s.args === undefined ? s.names : []));
    expect(allowed).toContain("mount");
    expect(allowed).toContain("clone3");
    expect(seccomp?.syscalls?.some((s) => s.names.includes("clone3") && s.action === "SCMP_ACT_ERRNO")).toBe(false);
  });

  it("privileged: every capability, no seccomp, no masked paths, rw /sys, every device", () => {
    const spec = build({ privileged: true });
    expect(spec.process.capabilities?.bounding).toEqual(ALL_CAPABILITIES);
    expect(spec.linux.seccomp).toBeUndefined();
    expect(spec.linux.maskedPaths).toEqual([]);
    expect(spec.linux.readonlyPaths).toEqual([]);
    expect(spec.mounts.find((m) => m.destination === "/sys")?.options).toContain("rw");
    expect(spec.linux.resources?.devices).toEqual([{ allow: true, access: "rwm" }]);
  });

  it("seccomp unconfined and custom", () => {
    expect(build({ seccomp: { kind: "unconfined" } }).linux.seccomp).toBeUndefined();
    const profile = { defaultAction: "SCMP_ACT_ALLOW" as const };
    expect(build({ seccomp: { kind: "custom", profile } }).linux.seccomp).toEqual(profile);
  });

  it("resolves --user in every form Docker accepts", () => {
    expect(build({ user: "nobody" }).process.user).toEqual({ uid: 65534, gid: 65534, additionalGids: [65534] });
    expect(build({ user: "65534" }).process.user).toEqual({ uid: 65534, gid: 65534, additionalGids: [65534] });
    expect(build({ user: "nobody:root" }).process.user).toEqual({ uid: 65534, gid: 0, additionalGids: [0] });
    expect(build({ user: "1234:4321" }).process.user).toEqual({ uid: 1234, gid: 4321, additionalGids: [4321] });
    // A uid that passwd does not know: gid 0, HOME / (runc's defaults).
    const unknown = build({ user: "1234" });
    expect(unknown.process.user).toEqual({ uid: 1234, gid: 0, additionalGids: [0] });
    expect(unknown.process.env).toContain("HOME=/");
    // Membership in /etc/group gives supplementary groups in the implicit form only.
    expect(build({ user: "app" }).process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 10, 999] });
    expect(build({ user: "app:app" }).process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000] });
    expect(build({ user: "app", groupAdd: ["nobody", "4242"] }).process.user.additionalGids).toEqual([1000, 10, 999, 65534, 4242]);
    expect(build({ user: "app" }).process.env).toContain("HOME=/srv/app");
  });

  it("reports a user or group the image does not have with Docker's text (HTK-RUNTIME-0102)", () => {
    const err = errorOf(() => build({ user: "ghost" }));
    expect(isHtkError(err, "HTK-RUNTIME-0102")).toBe(true);
    expect(isHtkError(err) ? err.plainCause : "").toBe("unable to find user ghost: no matching entries in passwd file");
    expect(isHtkError(err) ? err.http : 0).toBe(400);
    const group = errorOf(() => build({ user: "nobody:ghosts" }));
    expect(isHtkError(group) ? group.plainCause : "").toBe("unable to find group ghosts: no matching entries in group file");
    expect(isHtkError(errorOf(() => resolveUser({ passwd: [], group: [] }, "nobody")), "HTK-RUNTIME-0102")).toBe(true);
    expect(isHtkError(errorOf(() => build({ user: "99999999999" })), "HTK-RUNTIME-0104")).toBe(true);
  });

  it("merges the environment as Docker: later keys replace, a bare key removes, TERM with a TTY", () => {
    const spec = build({ env: ["PATH=/bin", "A=1", "HOSTNAME=mine", "A=2", "HOME=/h"], tty: true });
    expect(spec.process.env).toEqual(["PATH=/bin", "HOSTNAME=mine", "TERM=xterm", "A=2", "HOME=/h"]);
    expect(spec.process.terminal).toBe(true);
    expect(mergeEnv(["A=1", "B=2"], ["A"])).toEqual(["B=2"]);
    // Build steps: no daemon variables, but a PATH when the step has none.
    expect(build({ containerEnv: false, env: ["X=1"] }).process.env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "X=1", "HOME=/root"]);
  });

  it("adds bind and tmpfs mounts after the defaults, parents first; a tmpfs at /dev/shm replaces Docker's", () => {
    const spec = build({
      mounts: [
        { kind: "bind", source: "/host/a/b", target: "/data/sub", readonly: true },
        { kind: "tmpfs", target: "/dev/shm", options: "size=1g,exec" },
        { kind: "bind", source: "/host/a", target: "/data" },
        { kind: "raw", mount: { destination: "/x", type: "overlay", source: "overlay", options: ["lowerdir=/l"] } },
      ],
    });
    const extra = spec.mounts.slice(6);
    expect(spec.mounts.filter((m) => m.destination === "/dev/shm")).toEqual([
      { destination: "/dev/shm", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "rprivate", "size=1g", "exec"] },
    ]);
    expect(extra.map((m) => m.destination)).toEqual(["/data", "/x", "/data/sub", "/dev/shm"]);
    expect(spec.mounts.find((m) => m.destination === "/data/sub")).toEqual({ destination: "/data/sub", type: "bind", source: "/host/a/b", options: ["rbind", "ro", "rprivate"] });
    expect(isHtkError(errorOf(() => build({ mounts: [{ kind: "bind", source: "/a", target: "rel" }] })), "HTK-RUNTIME-0104")).toBe(true);
    expect(isHtkError(errorOf(() => build({ mounts: [{ kind: "tmpfs", target: "/t", options: "bogus=1" }] })), "HTK-RUNTIME-0104")).toBe(true);
  });

  it("merges tmpfs options as moby's MergeTmpfsOptions", () => {
    expect(mergeTmpfsOptions(["noexec", "nosuid", "nodev", "rprivate", "exec", "size=1m", "size=2m", "shared"])).toEqual(["nosuid", "nodev", "exec", "size=2m", "shared"]);
  });

  it("translates memory, swap, cpus, shares and pids limits as Docker, and refuses bad values", () => {
    const r = build({ resources: { memory: 64 * 1024 * 1024, nanoCpus: 1_500_000_000, cpuShares: 512, pidsLimit: 100, cpusetCpus: "0-1" } }).linux.resources;
    expect(r?.memory).toEqual({ limit: 67108864, swap: 134217728 });
    expect(r?.cpu).toEqual({ period: 100000, quota: 150000, shares: 512, cpus: "0-1" });
    expect(r?.pids).toEqual({ limit: 100 });
    expect(build({ resources: { memory: 64 * 1024 * 1024, memorySwap: -1 } }).linux.resources?.memory).toEqual({ limit: 67108864, swap: -1 });
    expect(build({ resources: { pidsLimit: -1 } }).linux.resources?.pids).toBeUndefined();
    const small = errorOf(() => build({ resources: { memory: 1024 } }));
    expect(isHtkError(small, "HTK-RUNTIME-0104")).toBe(true);
    expect(String(small)).toContain("Minimum memory limit allowed is 6MB");
    expect(isHtkError(errorOf(() => build({ resources: { memory: 64 << 20, memorySwap: 32 << 20 } })), "HTK-RUNTIME-0104")).toBe(true);
    expect(isHtkError(errorOf(() => build({ resources: { nanoCpus: 1e9, cpuPeriod: 50000 } })), "HTK-RUNTIME-0104")).toBe(true);
    expect(isHtkError(errorOf(() => build({ resources: { cpusetCpus: "a-b" } })), "HTK-RUNTIME-0104")).toBe(true);
    expect(isHtkError(errorOf(() => build({ resources: { memorySwap: 1 << 30 } })), "HTK-RUNTIME-0104")).toBe(true);
  });

  it("joins or skips the network namespace; sysctls only in the container's own namespaces", () => {
    const joined = build({ network: { kind: "join", path: "/run/netns/x" }, sysctls: { "net.core.somaxconn": "1024", "kernel.shmmax": "1" } });
    expect(joined.linux.namespaces[1]).toEqual({ type: "network", path: "/run/netns/x" });
    expect(joined.linux.sysctl?.["net.core.somaxconn"]).toBe("1024");
    const host = build({ network: { kind: "host" } });
    expect(host.linux.namespaces.map((n) => n.type)).toEqual(["mount", "uts", "pid", "ipc"]);
    expect(host.linux.sysctl).toEqual({});
    expect(isHtkError(errorOf(() => build({ network: { kind: "host" }, sysctls: { "net.core.somaxconn": "1" } })), "HTK-RUNTIME-0104")).toBe(true);
    expect(isHtkError(errorOf(() => build({ sysctls: { "vm.swappiness": "1" } })), "HTK-RUNTIME-0104")).toBe(true);
  });

  it("ulimits replace the default nofile; the default is capped by the engine's own hard limit", () => {
    expect(build({ ulimits: [{ name: "nofile", soft: 1024, hard: 2048 }, { name: "nproc", soft: 10, hard: 10 }] }).process.rlimits).toEqual([
      { type: "RLIMIT_NOFILE", hard: 2048, soft: 1024 },
      { type: "RLIMIT_NPROC", hard: 10, soft: 10 },
    ]);
    expect(buildSpec({ rootfs: "/r", args: ["sh"], host: { ...HOST, nofileHard: 20000 } }).process.rlimits).toEqual([{ type: "RLIMIT_NOFILE", hard: 20000, soft: 20000 }]);
    expect(isHtkError(errorOf(() => build({ ulimits: [{ name: "nofile", soft: 2, hard: 1 }] })), "HTK-RUNTIME-0104")).toBe(true);
    expect(isHtkError(errorOf(() => build({ ulimits: [{ name: "files", soft: 1, hard: 1 }] })), "HTK-RUNTIME-0104")).toBe(true);
  });

  it("--init runs the command under /sbin/docker-init, bind-mounted read-only", () => {
    const spec = build({ init: { hostPath: "/usr/bin/tini-static" }, args: ["sleep", "1"] });
    expect(spec.process.args).toEqual(["/sbin/docker-init", "--", "sleep", "1"]);
    expect(spec.mounts.at(-1)).toEqual({ destination: "/sbin/docker-init", type: "bind", source: "/usr/bin/tini-static", options: ["bind", "ro"] });
  });

  it("read-only rootfs, cwd, no-new-privileges, oom score, cgroup path, annotations", () => {
    const spec = build({ readonlyRootfs: true, cwd: "/srv", noNewPrivileges: true, oomScoreAdj: 500, cgroupsPath: "/hatake/x", annotations: { a: "b" } });
    expect(spec.root.readonly).toBe(true);
    expect(spec.process.cwd).toBe("/srv");
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.process.oomScoreAdj).toBe(500);
    expect(spec.linux.cgroupsPath).toBe("/hatake/x");
    expect(spec.annotations).toEqual({ a: "b" });
    expect(isHtkError(errorOf(() => build({ oomScoreAdj: 1001 })), "HTK-RUNTIME-0104")).toBe(true);
    expect(isHtkError(errorOf(() => build({ cwd: "relative" })), "HTK-RUNTIME-0104")).toBe(true);
    expect(isHtkError(errorOf(() => build({ args: [] })), "HTK-RUNTIME-0104")).toBe(true);
  });
});

describe("the seccomp profile's conditions", () => {
  it("compares kernel versions", () => {
    expect(kernelAtLeast("6.1.0-18-amd64", "4.8")).toBe(true);
    expect(kernelAtLeast("4.8", "4.8")).toBe(true);
    expect(kernelAtLeast("4.4.0", "4.8")).toBe(false);
    expect(kernelAtLeast("3.10", "4.8")).toBe(false);
  });

  it("keeps only the rules for this architecture and kernel", () => {
    const arm = defaultSeccompProfile({ capabilities: [], arch: "arm64", kernel: "4.4" });
    const names = (arm.syscalls ?? []).flatMap((s) => s.names);
    expect(arm.architectures).toEqual(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    expect(names).not.toContain("arch_prctl");
    expect(names).toContain("set_tls");
    expect(names).not.toContain("ptrace");
    expect(names).not.toContain("chroot");
  });
});

describe("exit statuses", () => {
  it("reads crun's 128+N as a signal, null code as the signal crun itself got", () => {
    expect(resultFromExit(0, null)).toEqual({ kind: "exited", exitCode: 0 });
    expect(resultFromExit(3, null)).toEqual({ kind: "exited", exitCode: 3 });
    expect(resultFromExit(128, null)).toEqual({ kind: "exited", exitCode: 128 });
    expect(resultFromExit(137, null)).toEqual({ kind: "signaled", signal: 9, signalName: "SIGKILL", exitCode: 137 });
    expect(resultFromExit(null, "SIGTERM")).toEqual({ kind: "signaled", signal: 15, signalName: "SIGTERM", exitCode: 143 });
    expect(resultFromExit(255, null)).toEqual({ kind: "exited", exitCode: 255 });
    expect(signalName(2)).toBe("SIGINT");
  });

  it("names signals for crun kill as Docker accepts them", () => {
    expect(["KILL", "SIGKILL", "kill", 9].map((s) => signalArg(s))).toEqual(["9", "9", "9", "9"]);
    expect(signalArg("SIGTERM")).toBe("15");
    expect(signalArg("RTMIN+3")).toBe("37");
    expect(signalArg("SIGRTMAX-1")).toBe("63");
    expect(isHtkError(errorOf(() => signalArg("SIGNOPE")), "HTK-RUNTIME-0104")).toBe(true);
    expect(isHtkError(errorOf(() => signalArg(65)), "HTK-RUNTIME-0104")).toBe(true);
  });
});

describe("cgroup stat parsing", () => {
  it("reads v1 and v2 block I/O bytes as Docker's io_service_bytes_recursive", () => {
    expect(parseIoServiceBytesV1("8:0 Read 4096\n8:0 Write 512\n8:0 Sync 0\n8:0 Total 4608\nTotal 4608\n")).toEqual([
      { major: 8, minor: 0, op: "read", value: 4096 },
      { major: 8, minor: 0, op: "write", value: 512 },
    ]);
    expect(parseIoStatV2("253:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n")).toEqual([
      { major: 253, minor: 0, op: "read", value: 100 },
      { major: 253, minor: 0, op: "write", value: 200 },
    ]);
  });
});

describe("buildSpec: host namespaces and network files", () => {
  it("--pid/--ipc/--uts=host skip those namespaces; ipc=host binds the host's /dev/shm; uts=host sets no hostname", () => {
    const spec = build({ hostNamespaces: ["pid", "ipc", "uts"] });
    expect(spec.linux.namespaces).toEqual([{ type: "mount" }, { type: "network" }]);
    expect(spec.hostname).toBeUndefined();
    expect(spec.mounts.filter((m) => m.destination === "/dev/shm")).toEqual([{ destination: "/dev/shm", type: "bind", source: "/dev/shm", options: ["rbind", "rprivate"] }]);
  });

  it("bind-mounts /etc/hosts, /etc/resolv.conf and /etc/hostname, read-only with a read-only rootfs", () => {
    const files = { hosts: "/c/hosts", resolvConf: "/c/resolv.conf", hostname: "/c/hostname" };
    expect(build({ networkFiles: files }).mounts.slice(7)).toEqual([
      { destination: "/etc/resolv.conf", type: "bind", source: "/c/resolv.conf", options: ["rbind", "rprivate"] },
      { destination: "/etc/hostname", type: "bind", source: "/c/hostname", options: ["rbind", "rprivate"] },
      { destination: "/etc/hosts", type: "bind", source: "/c/hosts", options: ["rbind", "rprivate"] },
    ]);
    expect(build({ networkFiles: files, readonlyRootfs: true }).mounts.at(-1)?.options).toEqual(["rbind", "rprivate", "ro"]);
  });
});
