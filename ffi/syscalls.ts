/**
 * System call numbers per architecture. x86_64 has its own table; aarch64
 * uses the generic table (asm-generic/unistd.h). Numbers from 424 on are the
 * same everywhere.
 * @module
 */

/** The syscalls ctr uses, by name. */
export type SyscallName = keyof typeof X86_64;

const X86_64 = {
  read: 0,
  write: 1,
  close: 3,
  ioctl: 16,
  getpid: 39,
  socket: 41,
  connect: 42,
  sendmsg: 46,
  recvmsg: 47,
  bind: 49,
  setsockopt: 54,
  socketpair: 53,
  clone: 56,
  execve: 59,
  wait4: 61,
  kill: 62,
  fcntl: 72,
  flock: 73,
  chdir: 80,
  fchdir: 81,
  umask: 95,
  getuid: 102,
  setsid: 112,
  setgroups: 116,
  setresuid: 117,
  setresgid: 119,
  capget: 125,
  capset: 126,
  rt_sigaction: 13,
  rt_sigprocmask: 14,
  pivot_root: 155,
  prctl: 157,
  chroot: 161,
  mount: 165,
  umount2: 166,
  sethostname: 170,
  setdomainname: 171,
  lsetxattr: 189,
  lgetxattr: 192,
  gettid: 186,
  waitid: 247,
  openat: 257,
  mkdirat: 258,
  mknodat: 259,
  fchownat: 260,
  newfstatat: 262,
  unlinkat: 263,
  symlinkat: 266,
  readlinkat: 267,
  unshare: 272,
  utimensat: 280,
  dup3: 292,
  pipe2: 293,
  prlimit64: 302,
  setns: 308,
  seccomp: 317,
  pidfd_send_signal: 424,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  pidfd_open: 434,
  close_range: 436,
  openat2: 437,
  mount_setattr: 442,
  exit_group: 231,
  bpf: 321,
} as const;

const AARCH64: Record<SyscallName, number> = {
  read: 63,
  write: 64,
  close: 57,
  ioctl: 29,
  getpid: 172,
  socket: 198,
  connect: 203,
  sendmsg: 211,
  recvmsg: 212,
  bind: 200,
  setsockopt: 208,
  socketpair: 199,
  clone: 220,
  execve: 221,
  wait4: 260,
  kill: 129,
  fcntl: 25,
  flock: 32,
  chdir: 49,
  fchdir: 50,
  umask: 166,
  getuid: 174,
  setsid: 157,
  setgroups: 159,
  setresuid: 147,
  setresgid: 149,
  capget: 90,
  capset: 91,
  rt_sigaction: 134,
  rt_sigprocmask: 135,
  pivot_root: 41,
  prctl: 167,
  chroot: 51,
  mount: 40,
  umount2: 39,
  sethostname: 161,
  setdomainname: 162,
  lsetxattr: 6,
  lgetxattr: 9,
  gettid: 178,
  waitid: 95,
  openat: 56,
  mkdirat: 34,
  mknodat: 33,
  fchownat: 54,
  newfstatat: 79,
  unlinkat: 35,
  symlinkat: 36,
  readlinkat: 78,
  unshare: 97,
  utimensat: 88,
  dup3: 24,
  pipe2: 59,
  prlimit64: 261,
  setns: 268,
  seccomp: 277,
  pidfd_send_signal: 424,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  pidfd_open: 434,
  close_range: 436,
  openat2: 437,
  mount_setattr: 442,
  exit_group: 94,
  bpf: 280,
};

/** The CPU architectures ctr has syscall tables and a native stub for. */
export type Arch = "x86_64" | "aarch64";

/** Syscall tables by architecture. */
export const SYSCALLS: Record<Arch, Record<SyscallName, number>> = {
  x86_64: X86_64,
  aarch64: AARCH64,
};

/** The architecture this process runs on. */
export function hostArch(): Arch {
  const a = Deno.build.arch;
  if (a === "x86_64" || a === "aarch64") return a;
  throw new Error(`Unsupported architecture: ${a}`);
}

/** The syscall number of `name` on `arch` (default: this host). */
export function sysno(name: SyscallName, arch: Arch = hostArch()): number {
  return SYSCALLS[arch][name];
}
