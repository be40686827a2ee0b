/**
 * Kernel constants ctr passes to system calls, grouped by header, with
 * name tables so plans print flags as names (MS_BIND|MS_REC), never numbers.
 * The values are the same on x86_64 and aarch64.
 * @module
 */

/** linux/sched.h: clone and unshare flags. */
export const CLONE = {
  VM: 0x100,
  FS: 0x200,
  FILES: 0x400,
  SIGHAND: 0x800,
  PIDFD: 0x1000,
  PTRACE: 0x2000,
  VFORK: 0x4000,
  PARENT: 0x8000,
  THREAD: 0x10000,
  NEWNS: 0x20000,
  PARENT_SETTID: 0x100000,
  NEWCGROUP: 0x2000000,
  NEWUTS: 0x4000000,
  NEWIPC: 0x8000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
  NEWTIME: 0x80,
} as const;

/** clone3 flags above 32 bits (BigInt: JavaScript's bitwise operators stop at 32). */
export const CLONE3 = { INTO_CGROUP: 0x200000000n } as const;

/** linux/mount.h: mount(2) flags. */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOSYMFOLLOW: 256,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  MOVE: 8192,
  REC: 16384,
  SILENT: 32768,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;

/** MS_* bits the table above leaves out (only mount options name them). */
const MS_I_VERSION = 1 << 23;
const MS_LAZYTIME = 1 << 25;

/**
 * Options that set (`set: true`) or clear a mount(2) flag, as mount(8) and
 * runc read them; a later option wins over an earlier one.
 */
export const MOUNT_FLAG_OPTIONS: Readonly<Record<string, { flag: number; set: boolean }>> = {
  async: { flag: MS.SYNCHRONOUS, set: false },
  atime: { flag: MS.NOATIME, set: false },
  bind: { flag: MS.BIND, set: true },
  defaults: { flag: 0, set: false },
  dev: { flag: MS.NODEV, set: false },
  diratime: { flag: MS.NODIRATIME, set: false },
  dirsync: { flag: MS.DIRSYNC, set: true },
  exec: { flag: MS.NOEXEC, set: false },
  iversion: { flag: MS_I_VERSION, set: true },
  lazytime: { flag: MS_LAZYTIME, set: true },
  loud: { flag: MS.SILENT, set: false },
  mand: { flag: MS.MANDLOCK, set: true },
  noatime: { flag: MS.NOATIME, set: true },
  nodev: { flag: MS.NODEV, set: true },
  nodiratime: { flag: MS.NODIRATIME, set: true },
  noexec: { flag: MS.NOEXEC, set: true },
  noiversion: { flag: MS_I_VERSION, set: false },
  nolazytime: { flag: MS_LAZYTIME, set: false },
  nomand: { flag: MS.MANDLOCK, set: false },
  norelatime: { flag: MS.RELATIME, set: false },
  nostrictatime: { flag: MS.STRICTATIME, set: false },
  nosuid: { flag: MS.NOSUID, set: true },
  nosymfollow: { flag: MS.NOSYMFOLLOW, set: true },
  // runc's recursive "atime": clearing noatime, which is all a fresh mount
  // needs; submounts keep their own.
  ratime: { flag: MS.NOATIME, set: false },
  rbind: { flag: MS.BIND | MS.REC, set: true },
  relatime: { flag: MS.RELATIME, set: true },
  remount: { flag: MS.REMOUNT, set: true },
  ro: { flag: MS.RDONLY, set: true },
  rw: { flag: MS.RDONLY, set: false },
  silent: { flag: MS.SILENT, set: true },
  strictatime: { flag: MS.STRICTATIME, set: true },
  suid: { flag: MS.NOSUID, set: false },
  symfollow: { flag: MS.NOSYMFOLLOW, set: false },
  sync: { flag: MS.SYNCHRONOUS, set: true },
};

/** linux/mount.h: the new mount API (open_tree, move_mount, mount_setattr). */
export const MOUNT_API = {
  OPEN_TREE_CLONE: 1,
  OPEN_TREE_CLOEXEC: 0o2000000,
  AT_RECURSIVE: 0x8000,
  MOVE_MOUNT_F_EMPTY_PATH: 4,
  MOUNT_ATTR_IDMAP: 0x100000,
} as const;

/** umount2(2) flags. */
export const MNT = { FORCE: 1, DETACH: 2, EXPIRE: 4, UMOUNT_NOFOLLOW: 8 } as const;

/** fcntl.h: open(2) flags. */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
  DIRECTORY: 0o200000,
  NOFOLLOW: 0o400000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

/** fcntl.h: fcntl(2) commands. */
export const F = {
  SETFD: 2,
  SETFL: 4,
  DUPFD_CLOEXEC: 1030,
} as const;

/** AT_* flags and the current-directory fd. */
export const AT = {
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
  REMOVEDIR: 0x200,
  EMPTY_PATH: 0x1000,
} as const;

/** linux/openat2.h: RESOLVE_* flags. */
export const RESOLVE = {
  NO_XDEV: 1,
  NO_MAGICLINKS: 2,
  NO_SYMLINKS: 4,
  BENEATH: 8,
  IN_ROOT: 16,
} as const;

/** sys/stat.h: file type bits (mknod, a stat's mode) and their mask. */
export const S_IF = {
  REG: 0o100000,
  DIR: 0o40000,
  LNK: 0o120000,
  CHR: 0o20000,
  BLK: 0o60000,
  FIFO: 0o10000,
  MT: 0o170000,
} as const;

/** linux/prctl.h options. */
export const PR = {
  SET_PDEATHSIG: 1,
  SET_KEEPCAPS: 8,
  SET_NAME: 15,
  CAPBSET_DROP: 24,
  SET_CHILD_SUBREAPER: 36,
  SET_NO_NEW_PRIVS: 38,
  CAP_AMBIENT: 47,
} as const;

/** close_range(2) flags. */
export const CLOSE_RANGE = { UNSHARE: 2, CLOEXEC: 4 } as const;

/** Resource limits (sys/resource.h). */
export const RLIMIT: Record<string, number> = {
  cpu: 0,
  fsize: 1,
  data: 2,
  stack: 3,
  core: 4,
  rss: 5,
  nproc: 6,
  nofile: 7,
  memlock: 8,
  as: 9,
  locks: 10,
  sigpending: 11,
  msgqueue: 12,
  nice: 13,
  rtprio: 14,
  rttime: 15,
};

/** The propagation words of mount options (fstab, OCI, docker's bind-propagation) as mount(2) flags. */
export const PROPAGATION_FLAGS: Readonly<Record<string, number>> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/** Signals (the same numbers on x86_64 and aarch64). */
export const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** The name of a signal number, e.g. 9 → "SIGKILL". */
export function signalName(n: number): string {
  for (const [k, v] of Object.entries(SIGNALS)) if (v === n) return k;
  return n >= 34 && n <= 64 ? `SIGRTMIN+${n - 34}` : `signal ${n}`;
}

/** A signal by name ("TERM", "SIGTERM", "term") or number ("15"), as docker and runc take it. */
export function signalByName(v: string): Deno.Signal {
  const name = /^\d+$/.test(v)
    ? Object.entries(SIGNALS).find(([, n]) => n === Number(v))?.[0]
    : (v.toUpperCase().startsWith("SIG") ? v.toUpperCase() : `SIG${v.toUpperCase()}`);
  if (!name || !(name in SIGNALS)) throw new Error(`invalid signal: ${JSON.stringify(v)}`);
  return name as Deno.Signal;
}

/** Terminal ioctls (asm-generic/ioctls.h; the same on x86_64 and aarch64). */
export const TIOC = {
  GWINSZ: 0x5413,
  SWINSZ: 0x5414,
  SCTTY: 0x540e,
  NOTTY: 0x5422,
  GPTN: 0x80045430,
  SPTLCK: 0x40045431,
  GPTPEER: 0x5441,
} as const;

/** Network interface ioctls and flags (linux/sockios.h, linux/if.h). */
export const SIOC = { GIFFLAGS: 0x8913, SIFFLAGS: 0x8914 } as const;
/** Interface flags (linux/if.h, enum net_device_flags). */
export const IFF = {
  UP: 0x1,
  BROADCAST: 0x2,
  DEBUG: 0x4,
  LOOPBACK: 0x8,
  POINTOPOINT: 0x10,
  NOTRAILERS: 0x20,
  RUNNING: 0x40,
  NOARP: 0x80,
  PROMISC: 0x100,
  ALLMULTI: 0x200,
  MASTER: 0x400,
  SLAVE: 0x800,
  MULTICAST: 0x1000,
  PORTSEL: 0x2000,
  AUTOMEDIA: 0x4000,
  DYNAMIC: 0x8000,
  LOWER_UP: 0x10000,
  DORMANT: 0x20000,
  ECHO: 0x40000,
} as const;
/** Address families. */
export const AF = { UNSPEC: 0, UNIX: 1, INET: 2, BRIDGE: 7, INET6: 10, NETLINK: 16 } as const;
/** Socket types. */
export const SOCK = { STREAM: 1, DGRAM: 2, RAW: 3, CLOEXEC: 0o2000000 } as const;
/** Socket flags of send and receive calls. */
export const MSG = { PEEK: 0x2, TRUNC: 0x20, DONTWAIT: 0x40 } as const;

/** waitid(2) id types and options; siginfo codes for SIGCHLD. */
export const P = { PID: 1, PIDFD: 3 } as const;
/** wait options. */
export const W = { NOHANG: 1, EXITED: 4 } as const;
/** SIGCHLD si_code values. */
export const CLD = {
  EXITED: 1,
  KILLED: 2,
  DUMPED: 3,
  TRAPPED: 4,
  STOPPED: 5,
  CONTINUED: 6,
} as const;

/** Capabilities (linux/capability.h) by their docker names, without CAP_. */
export const CAPS: Record<string, number> = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  DAC_READ_SEARCH: 2,
  FOWNER: 3,
  FSETID: 4,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  SETPCAP: 8,
  LINUX_IMMUTABLE: 9,
  NET_BIND_SERVICE: 10,
  NET_BROADCAST: 11,
  NET_ADMIN: 12,
  NET_RAW: 13,
  IPC_LOCK: 14,
  IPC_OWNER: 15,
  SYS_MODULE: 16,
  SYS_RAWIO: 17,
  SYS_CHROOT: 18,
  SYS_PTRACE: 19,
  SYS_PACCT: 20,
  SYS_ADMIN: 21,
  SYS_BOOT: 22,
  SYS_NICE: 23,
  SYS_RESOURCE: 24,
  SYS_TIME: 25,
  SYS_TTY_CONFIG: 26,
  MKNOD: 27,
  LEASE: 28,
  AUDIT_WRITE: 29,
  AUDIT_CONTROL: 30,
  SETFCAP: 31,
  MAC_OVERRIDE: 32,
  MAC_ADMIN: 33,
  SYSLOG: 34,
  WAKE_ALARM: 35,
  BLOCK_SUSPEND: 36,
  AUDIT_READ: 37,
  PERFMON: 38,
  BPF: 39,
  CHECKPOINT_RESTORE: 40,
};

/** _LINUX_CAPABILITY_VERSION_3 for capset(2). */
export const CAP_VERSION_3 = 0x20080522;

/** Renders `value` as NAME|NAME|0x.. using a table of single-bit flags. */
export function flagNames(
  value: number | bigint,
  table: Record<string, number>,
  prefix = "",
): string {
  let v = BigInt(value);
  if (v === 0n) return "0";
  const parts: string[] = [];
  for (const [name, bit] of Object.entries(table)) {
    const b = BigInt(bit);
    if (b !== 0n && (v & b) === b) {
      parts.push(prefix + name);
      v &= ~b;
    }
  }
  if (v !== 0n) parts.push("0x" + v.toString(16));
  return parts.join("|");
}
