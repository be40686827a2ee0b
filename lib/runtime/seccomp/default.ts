/**
 * ctr's default seccomp profile: docker's default (moby profiles/seccomp,
 * as of its v0.2.3) in effect, written as ctr's own data in docker's format
 * so that it can be printed for `--security-opt seccomp=FILE` and read back
 * by the same code as any profile.
 *
 * Shape: everything not listed fails with EPERM; a long allow list of what
 * ordinary programs call; calls that reach the host kernel's shared state
 * (mounts, namespaces, modules, keys, the clock, BPF, perf, ...) are allowed
 * only when the container holds the capability the kernel would check
 * anyway, so that adding a capability also opens its system calls, as in
 * docker. Only the architectures ctr runs on are written out: x86_64 with
 * its i386 and x32 ABIs, aarch64 with arm; docker's ppc64le, s390x, mips
 * and riscv64 rules have no effect there and are left out.
 *
 * Deliberately as in docker, worth knowing:
 * - ptrace and process_vm_{readv,writev} are allowed without
 *   CAP_SYS_PTRACE (docker since 19.03): since Linux 4.8 a tracer cannot
 *   use them to get around the filter, and the kernel still limits tracing
 *   to the container's own processes of the same user.
 * - io_uring is refused (docker since 25.0): its ring runs file and
 *   network operations the filter never sees.
 * - socket() is refused for AF_ALG (38) and AF_VSOCK (40), a comparison on
 *   all 64 bits of the argument as libseccomp makes it. The kernel reads
 *   the domain as an int, so a caller that sets high bits
 *   (0x100000028) gets past it, in docker as here; and i386 programs reach
 *   socket() through socketcall(), whose arguments sit in memory a filter
 *   cannot read. docker relies on an LSM for both; ctr has none here.
 * @module
 */

import { CLONE } from "../../../ffi/constants.ts";
import type { Arch } from "../../../ffi/syscalls.ts";
import {
  type DockerProfile,
  type DockerSyscall,
  type OciSeccomp,
  parseProfile,
} from "./profile.ts";

const allow = "SCMP_ACT_ALLOW" as const;

/** The namespace flags clone() may not have without CAP_SYS_ADMIN. */
const CLONE_NAMESPACES = CLONE.NEWNS | CLONE.NEWCGROUP | CLONE.NEWUTS | CLONE.NEWIPC |
  CLONE.NEWUSER | CLONE.NEWPID | CLONE.NEWNET;

const AF_ALG = 38, AF_VSOCK = 40;

/** Calls allowed whenever the capability is held (each a rule like docker's). */
function withCap(cap: string, names: string[], comment: string): DockerSyscall {
  return { names, action: allow, includes: { caps: [`CAP_${cap}`] }, comment };
}

const RULES: DockerSyscall[] = [
  {
    comment: "Files and directories of the container's own filesystem: open, read, write, " +
      "seek, stat, links, renames, permissions, owners (the kernel checks the caps), " +
      "sync, splice. mknod is the kernel's and the device cgroup's to refuse.",
    action: allow,
    names: [
      ...["access", "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "umask"],
      ...["open", "openat", "openat2", "creat", "close", "close_range", "dup", "dup2", "dup3"],
      ...["read", "readv", "pread64", "preadv", "preadv2", "readahead"],
      ...["write", "writev", "pwrite64", "pwritev", "pwritev2"],
      ...["lseek", "_llseek", "fcntl", "fcntl64", "flock", "fadvise64", "fadvise64_64"],
      ...["fallocate", "truncate", "truncate64", "ftruncate", "ftruncate64"],
      ...["stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64", "newfstatat"],
      ...["statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "getdents", "getdents64"],
      ...["mkdir", "mkdirat", "rmdir", "mknod", "mknodat", "link", "linkat", "unlink"],
      ...["unlinkat", "symlink", "symlinkat", "readlink", "readlinkat", "rename", "renameat"],
      ...["renameat2", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "chown32", "fchown"],
      ...["fchown32", "fchownat", "lchown", "lchown32", "utime", "utimes", "utimensat"],
      ...["utimensat_time64", "futimesat", "name_to_handle_at"],
      ...["sync", "syncfs", "fsync", "fdatasync", "sync_file_range"],
      ...["sendfile", "sendfile64", "splice", "tee", "vmsplice", "copy_file_range", "cachestat"],
    ],
  },
  {
    comment: "Extended attributes (the kernel checks trusted.* and security.* itself).",
    action: allow,
    names: [
      ...["getxattr", "lgetxattr", "fgetxattr", "getxattrat", "setxattr", "lsetxattr"],
      ...["fsetxattr", "setxattrat", "listxattr", "llistxattr", "flistxattr", "listxattrat"],
      ...["removexattr", "lremovexattr", "fremovexattr", "removexattrat"],
    ],
  },
  {
    comment: "Reading the mount table (the new statmount/listmount calls); changing it needs " +
      "CAP_SYS_ADMIN below.",
    action: allow,
    names: ["statmount", "listmount"],
  },
  {
    comment: "Memory: mappings, protection keys, locking (RLIMIT_MEMLOCK applies), sealing.",
    action: allow,
    names: [
      ...["brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync"],
      ...["remap_file_pages", "mlock", "mlock2", "mlockall", "munlock", "munlockall"],
      ...["membarrier", "memfd_create", "memfd_secret", "mseal", "map_shadow_stack"],
      ...["pkey_alloc", "pkey_free", "pkey_mprotect"],
    ],
  },
  {
    comment: "Processes and threads: exec, exit, wait, futexes, rseq, process ids, " +
      "limits, priorities, pidfds and signals to the container's own processes " +
      "(clone is below: its namespace flags are checked).",
    action: allow,
    names: [
      ...["execve", "execveat", "fork", "vfork", "exit", "exit_group"],
      ...["wait4", "waitid", "waitpid", "restart_syscall", "prctl", "uname", "sysinfo"],
      ...["set_tid_address", "get_robust_list", "set_robust_list", "rseq"],
      ...["get_thread_area", "set_thread_area", "uretprobe"],
      ...["futex", "futex_time64", "futex_waitv", "futex_wait", "futex_wake", "futex_requeue"],
      ...["getpid", "getppid", "gettid", "getpgid", "getpgrp", "setpgid", "getsid", "setsid"],
      ...["getrlimit", "setrlimit", "ugetrlimit", "prlimit64", "getrusage", "times"],
      ...["getpriority", "setpriority", "ioprio_get", "ioprio_set", "getcpu", "getrandom"],
      ...["kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal", "process_mrelease"],
      ...["capget", "capset"],
    ],
  },
  {
    comment: "Signal handling.",
    action: allow,
    names: [
      ...["rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending"],
      ...["rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo"],
      ...["sigaltstack", "sigprocmask", "sigreturn", "signalfd", "signalfd4", "pause", "alarm"],
    ],
  },
  {
    comment: "Clocks, sleeps and timers. adjtimex and clock_adjtime only read the clock " +
      "without CAP_SYS_TIME (the kernel checks); setting it is below.",
    action: allow,
    names: [
      ...["time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres"],
      ...["clock_getres_time64", "adjtimex", "clock_adjtime", "clock_adjtime64"],
      ...["nanosleep", "clock_nanosleep", "clock_nanosleep_time64", "getitimer", "setitimer"],
      ...["timer_create", "timer_delete", "timer_getoverrun", "timer_gettime"],
      ...["timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create"],
      ...["timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64"],
    ],
  },
  {
    comment: "User and group ids (changing them needs CAP_SETUID/CAP_SETGID, the kernel checks).",
    action: allow,
    names: [
      ...["getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid"],
      ...["getegid32", "getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups"],
      ...["getgroups32", "setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32"],
      ...["setregid", "setregid32", "setresuid", "setresuid32", "setresgid", "setresgid32"],
      ...["setfsuid", "setfsuid32", "setfsgid", "setfsgid32", "setgroups", "setgroups32"],
    ],
  },
  {
    comment: "Waiting for events: poll, select, epoll, eventfd, inotify, fanotify marks, pipes, " +
      "ioctl, and the old AIO (io_uring is not here: its ring runs operations the filter " +
      "never sees).",
    action: allow,
    names: [
      ...["poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64"],
      ...["epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait"],
      ...["epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2"],
      ...["inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch"],
      ...["fanotify_mark", "pipe", "pipe2", "ioctl"],
      ...["io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents"],
      ...["io_pgetevents_time64"],
    ],
  },
  {
    comment: "Sockets, once made (socket itself is below). socketcall is i386's single entry " +
      "to all of them: its arguments are in memory, out of a filter's reach.",
    action: allow,
    names: [
      ...["socketpair", "bind", "listen", "accept", "accept4", "connect", "shutdown"],
      ...["getsockname", "getpeername", "getsockopt", "setsockopt", "send", "sendto"],
      ...["sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64"],
      ...["socketcall"],
    ],
  },
  {
    comment: "System V and POSIX IPC, in the container's own IPC namespace.",
    action: allow,
    names: [
      ...["ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop"],
      ...["semtimedop_time64", "semctl", "shmget", "shmat", "shmdt", "shmctl", "mq_open"],
      ...["mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive"],
      ...["mq_timedreceive_time64", "mq_notify", "mq_getsetattr"],
    ],
  },
  {
    comment: "Scheduling policy and CPU affinity (raising priority needs CAP_SYS_NICE, the " +
      "kernel checks).",
    action: allow,
    names: [
      ...["sched_yield", "sched_getparam", "sched_setparam", "sched_getscheduler"],
      ...["sched_setscheduler", "sched_getattr", "sched_setattr", "sched_getaffinity"],
      ...["sched_setaffinity", "sched_get_priority_max", "sched_get_priority_min"],
      ...["sched_rr_get_interval", "sched_rr_get_interval_time64"],
    ],
  },
  {
    comment: "Sandboxing itself further: more seccomp filters, Landlock.",
    action: allow,
    names: ["seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"],
  },
  {
    comment: "Tracing the container's own processes: since Linux 4.8 a tracer cannot use " +
      "ptrace to get past the filter (docker allows these since 19.03).",
    action: allow,
    names: ["ptrace", "process_vm_readv", "process_vm_writev"],
    includes: { minKernel: "4.8" },
  },
  // socket(): every address family but AF_ALG (the kernel's crypto API, a
  // frequent source of kernel bugs) and AF_VSOCK (host-guest sockets: a way
  // out of the container's network namespace).
  {
    comment: "socket() below AF_ALG.",
    action: allow,
    names: ["socket"],
    args: [{ index: 0, value: AF_ALG, op: "SCMP_CMP_LT" }],
  },
  {
    comment: "socket() for the family between AF_ALG and AF_VSOCK (AF_NFC).",
    action: allow,
    names: ["socket"],
    args: [{ index: 0, value: AF_ALG + 1, op: "SCMP_CMP_EQ" }],
  },
  {
    comment: "socket() above AF_VSOCK.",
    action: allow,
    names: ["socket"],
    args: [{ index: 0, value: AF_VSOCK, op: "SCMP_CMP_GT" }],
  },
  // personality(): only the harmless personas; others (READ_IMPLIES_EXEC and
  // the like) weaken the container's own memory protections.
  ...[
    [0x0, "PER_LINUX"],
    [0x8, "UNAME26 (a 2.6 kernel version in uname, for old programs)"],
    [0x20000, "ADDR_NO_RANDOMIZE (setarch -R, debuggers)"],
    [0x20008, "UNAME26 | ADDR_NO_RANDOMIZE"],
    [0xffffffff, "0xffffffff: only reads the current persona"],
  ].map(([value, why]): DockerSyscall => ({
    comment: `personality(${why}).`,
    action: allow,
    names: ["personality"],
    args: [{ index: 0, value: value as number, op: "SCMP_CMP_EQ" }],
  })),
  {
    comment: "ARM's private calls (cache flushes for JITs, TLS) and its argument-order " +
      "variants, for arm programs on aarch64.",
    action: allow,
    names: [
      ...["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2"],
      ...["breakpoint", "cacheflush", "set_tls"],
    ],
    includes: { arches: ["arm64"] },
  },
  {
    comment: "x86's thread-pointer and LDT calls (the 64-bit C library sets FS with " +
      "arch_prctl; 16-bit and Wine code needs modify_ldt).",
    action: allow,
    names: ["arch_prctl", "modify_ldt"],
    includes: { arches: ["amd64"] },
  },
  withCap(
    "DAC_READ_SEARCH",
    ["open_by_handle_at"],
    "Opens any file of a filesystem by handle, past the container's root (the 'shocker' " +
      "escape): only with the capability the kernel asks for.",
  ),
  withCap(
    "SYS_ADMIN",
    [
      ...["mount", "umount", "umount2", "mount_setattr", "move_mount", "open_tree", "fsopen"],
      ...["fsconfig", "fsmount", "fspick", "unshare", "setns", "clone", "clone3"],
      ...["sethostname", "setdomainname", "quotactl", "quotactl_fd", "fanotify_init"],
      ...["lookup_dcookie", "bpf", "perf_event_open", "syslog"],
      ...["lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules"],
    ],
    "Mounts, namespaces, hostname, quotas, fanotify, BPF, perf, the kernel log, LSM " +
      "attributes: what CAP_SYS_ADMIN lets a process do to shared kernel state.",
  ),
  {
    comment: "clone() without namespace flags (threads, fork) for a container without " +
      "CAP_SYS_ADMIN: a new user namespace would give it a full capability set there.",
    action: allow,
    names: ["clone"],
    args: [{ index: 0, value: CLONE_NAMESPACES, op: "SCMP_CMP_MASKED_EQ" }],
    excludes: { caps: ["CAP_SYS_ADMIN"] },
  },
  {
    comment: "clone3() passes its flags in memory, where a filter cannot look: answer ENOSYS, " +
      "so that the C library falls back to clone(), which is checked above.",
    action: "SCMP_ACT_ERRNO",
    errnoRet: 38,
    names: ["clone3"],
    excludes: { caps: ["CAP_SYS_ADMIN"] },
  },
  withCap("SYS_BOOT", ["reboot"], "Restarting the machine (in a pid namespace: ending it)."),
  withCap("SYS_CHROOT", ["chroot"], "chroot (a default capability)."),
  withCap(
    "SYS_MODULE",
    ["init_module", "finit_module", "delete_module"],
    "Loading and unloading kernel modules.",
  ),
  withCap("SYS_PACCT", ["acct"], "Process accounting, a host-wide switch."),
  withCap(
    "SYS_PTRACE",
    ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
    "Inspecting other processes: comparing their kernel objects, taking their fds, " +
      "advising their memory.",
  ),
  withCap("SYS_RAWIO", ["iopl", "ioperm"], "Direct access to I/O ports."),
  withCap(
    "SYS_TIME",
    ["settimeofday", "stime", "clock_settime", "clock_settime64"],
    "Setting the system clock, which has no namespace.",
  ),
  withCap("SYS_TTY_CONFIG", ["vhangup"], "Hanging up the terminal."),
  withCap(
    "SYS_NICE",
    ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
    "NUMA memory policy.",
  ),
  withCap("SYSLOG", ["syslog"], "The kernel log."),
  withCap("BPF", ["bpf"], "BPF programs and maps (CAP_BPF, Linux 5.8)."),
  withCap("PERFMON", ["perf_event_open"], "Performance monitoring (CAP_PERFMON, Linux 5.8)."),
];

/**
 * ctr's default profile in docker's format, before it is resolved for a
 * container (JSON-ready: print it with JSON.stringify).
 */
export const DEFAULT_PROFILE: DockerProfile = {
  defaultAction: "SCMP_ACT_ERRNO",
  defaultErrnoRet: 1,
  archMap: [
    { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
    { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
  ],
  syscalls: RULES,
};

/**
 * The default profile for a container with capabilities `caps` (its
 * bounding set, "SYS_ADMIN" or "CAP_SYS_ADMIN") on `arch`: docker's rule
 * conditions resolved, ready for compileFilter.
 */
export function defaultProfile(caps: readonly string[], arch: Arch): OciSeccomp {
  return parseProfile(DEFAULT_PROFILE, { caps, arch });
}
