import type { LinuxSeccomp, LinuxSyscall, SeccompArg } from "./spec.ts";

/**
 * Docker's default seccomp profile (moby `profiles/seccomp/default.json`, as shipped with Docker
 * Engine 26), kept as data in our own shape, and the evaluation Docker's daemon does when it turns the
 * profile into a container's OCI `linux.seccomp` (moby `profiles/seccomp/seccomp_linux.go`): rules whose
 * `includes` the container does not meet (capabilities it lacks, another architecture, an older kernel)
 * and rules whose `excludes` it meets are left out, and only the native architecture and its
 * sub-architectures are listed. The result is what `docker inspect`-level parity needs: a container that
 * gets CAP_SYS_ADMIN also gets `mount`, one that does not gets `clone3` answered with ENOSYS so glibc
 * falls back to `clone`, which is allowed only without namespace flags.
 */

/** A rule of the profile before evaluation. */
interface ProfileRule {
  readonly names: readonly string[];
  readonly action: "SCMP_ACT_ALLOW" | "SCMP_ACT_ERRNO";
  readonly errnoRet?: number;
  readonly args?: readonly SeccompArg[];
  readonly includes?: Condition;
  readonly excludes?: Condition;
}

interface Condition {
  /** All of these capabilities (include) / any of them (exclude). */
  readonly caps?: readonly string[];
  /** Go architecture names (`amd64`, `arm64` …). */
  readonly arches?: readonly string[];
  /** The kernel must be at least this version. */
  readonly minKernel?: string;
}

/** The syscalls every container may make. */
const ALWAYS_ALLOWED = `
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime
clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create
epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2
execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32
getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid
getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register
io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32
lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap
mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal
pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2
prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink
readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename
renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send
sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid
setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area
set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat
sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname
unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
`
  .trim()
  .split(/\s+/);

const allow = (names: string, extra: Omit<ProfileRule, "names" | "action"> = {}): ProfileRule => ({
  names: names.split(" "),
  action: "SCMP_ACT_ALLOW",
  ...extra,
});
const eq = (index: number, value: number, op: SeccompArg["op"] = "SCMP_CMP_EQ"): SeccompArg => ({ index, value, op });

/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone without CAP_SYS_ADMIN may not use them. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/** The rules in the profile's order (the order is kept in the output, as Docker does). */
const RULES: readonly ProfileRule[] = [
  { names: ALWAYS_ALLOWED, action: "SCMP_ACT_ALLOW" },
  allow("process_vm_readv process_vm_writev ptrace", { includes: { minKernel: "4.8" } }),
  // AF_VSOCK (40) sockets are refused: they reach the host.
  allow("socket", { args: [eq(0, 40, "SCMP_CMP_NE")] }),
  // personality(2) only with the harmless personas: PER_LINUX, PER_LINUX32, UNAME26 variants, query.
  ...[0, 8, 0x20000, 0x20008, 0xffffffff].map((p) => allow("personality", { args: [eq(0, p)] })),
  allow("sync_file_range2 swapcontext", { includes: { arches: ["ppc64le"] } }),
  allow("arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls", { includes: { arches: ["arm", "arm64"] } }),
  allow("arch_prctl", { includes: { arches: ["amd64", "x32"] } }),
  allow("modify_ldt", { includes: { arches: ["amd64", "x32", "x86"] } }),
  allow("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr", { includes: { arches: ["s390", "s390x"] } }),
  allow("riscv_flush_icache", { includes: { arches: ["riscv64"] } }),
  allow("open_by_handle_at", { includes: { caps: ["CAP_DAC_READ_SEARCH"] } }),
  allow(
    "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr move_mount open_tree " +
      "perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare",
    { includes: { caps: ["CAP_SYS_ADMIN"] } },
  ),
  allow("clone", { args: [eq(0, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ")], excludes: { caps: ["CAP_SYS_ADMIN"], arches: ["s390", "s390x"] } }),
  // s390 passes clone's flags as the second argument.
  allow("clone", { args: [eq(1, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ")], includes: { arches: ["s390", "s390x"] }, excludes: { caps: ["CAP_SYS_ADMIN"] } }),
  // ENOSYS, not EPERM: libcs then fall back to clone(2), whose flags the rule above can inspect.
  { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38, excludes: { caps: ["CAP_SYS_ADMIN"] } },
  allow("reboot", { includes: { caps: ["CAP_SYS_BOOT"] } }),
  allow("chroot", { includes: { caps: ["CAP_SYS_CHROOT"] } }),
  allow("delete_module init_module finit_module", { includes: { caps: ["CAP_SYS_MODULE"] } }),
  allow("acct", { includes: { caps: ["CAP_SYS_PACCT"] } }),
  allow("kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace", { includes: { caps: ["CAP_SYS_PTRACE"] } }),
  allow("iopl ioperm", { includes: { caps: ["CAP_SYS_RAWIO"] } }),
  allow("settimeofday stime clock_settime clock_settime64", { includes: { caps: ["CAP_SYS_TIME"] } }),
  allow("vhangup", { includes: { caps: ["CAP_SYS_TTY_CONFIG"] } }),
  allow("get_mempolicy mbind set_mempolicy set_mempolicy_home_node", { includes: { caps: ["CAP_SYS_NICE"] } }),
  allow("syslog", { includes: { caps: ["CAP_SYSLOG"] } }),
  allow("bpf", { includes: { caps: ["CAP_BPF"] } }),
  allow("perf_event_open", { includes: { caps: ["CAP_PERFMON"] } }),
];

/** The profile's architecture map: the native architecture first, then what it can also execute. */
const ARCH_MAP: Readonly<Record<string, readonly string[]>> = {
  amd64: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  arm64: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
  mips64: ["SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
  mips64le: ["SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
  s390x: ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
  riscv64: ["SCMP_ARCH_RISCV64"],
};

/** `6.1.0-18-amd64` ≥ `4.8`? Compares the leading numeric parts. */
export function kernelAtLeast(kernel: string, min: string): boolean {
  const parse = (v: string): number[] => (/^(\d+)(?:\.(\d+))?/.exec(v) ?? []).slice(1, 3).map((n) => Number(n ?? 0));
  const [a0 = 0, a1 = 0] = parse(kernel);
  const [b0 = 0, b1 = 0] = parse(min);
  return a0 !== b0 ? a0 > b0 : a1 >= b1;
}

export interface SeccompContext {
  /** The container's final capability set (CAP_ names). */
  readonly capabilities: readonly string[];
  /** Go architecture name (`amd64`, `arm64` …). */
  readonly arch: string;
  /** The kernel release (`uname -r`); rules with a `minKernel` above it are left out. */
  readonly kernel: string;
}

/** Docker's default profile evaluated for one container. */
export function defaultSeccompProfile(ctx: SeccompContext): LinuxSeccomp {
  const caps = new Set(ctx.capabilities);
  const syscalls: LinuxSyscall[] = [];
  for (const rule of RULES) {
    const inc = rule.includes;
    const exc = rule.excludes;
    if (inc?.caps && !inc.caps.every((c) => caps.has(c))) continue;
    if (inc?.arches && !inc.arches.includes(ctx.arch)) continue;
    if (inc?.minKernel !== undefined && !kernelAtLeast(ctx.kernel, inc.minKernel)) continue;
    if (exc?.caps?.some((c) => caps.has(c))) continue;
    if (exc?.arches?.includes(ctx.arch)) continue;
    syscalls.push({
      names: [...rule.names],
      action: rule.action,
      ...(rule.errnoRet !== undefined ? { errnoRet: rule.errnoRet } : {}),
      ...(rule.args ? { args: rule.args.map((a) => ({ ...a })) } : {}),
    });
  }
  return {
    // EPERM for anything not listed, as Docker's profile says (defaultErrnoRet 1).
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    architectures: [...(ARCH_MAP[ctx.arch] ?? [])],
    syscalls,
  };
}
