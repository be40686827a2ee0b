/**
 * System calls made by ctr's own (parent) process, as typed functions that
 * throw SyscallError naming the call, the object and the errno. Buffers are
 * passed as Uint8Arrays; their backing stores do not move during a call.
 * @module
 */

import { errno, SyscallError } from "./errno.ts";
import { rawSyscall, rawSyscallAsync, type Word } from "./stub.ts";
import { hostArch, type SyscallName, SYSCALLS } from "./syscalls.ts";
import { AT, F, O, S_IF } from "./constants.ts";

const enc = new TextEncoder();

/** This host's syscall numbers, looked up once. */
const HOST_SYSCALLS = SYSCALLS[hostArch()];

/** Address of a buffer's first byte. */
export function addressOf(buf: Uint8Array): bigint {
  const p = Deno.UnsafePointer.of(buf as Uint8Array<ArrayBuffer>);
  return BigInt(Deno.UnsafePointer.value(p));
}

/** A NUL-terminated copy of a string. */
export function cString(s: string): Uint8Array {
  const b = enc.encode(s + "\0");
  return b;
}

/** Calls `name` and returns its result; -errno results throw SyscallError. */
export function sys(
  name: SyscallName,
  object: string | undefined,
  a0?: Word,
  a1?: Word,
  a2?: Word,
  a3?: Word,
  a4?: Word,
  a5?: Word,
): number {
  const r = sysRaw(name, a0, a1, a2, a3, a4, a5);
  if (r < 0 && r > -4096) throw new SyscallError(name, -r, object);
  return r;
}

/** Like sys(), on a worker thread: for calls that may block. */
export async function sysAsync(
  name: SyscallName,
  object: string | undefined,
  ...args: Word[]
): Promise<number> {
  for (;;) {
    const r = await rawSyscallAsync(HOST_SYSCALLS[name], ...args);
    if (r === -4) continue; // EINTR: the call was interrupted, not failed
    if (r < 0 && r > -4096) throw new SyscallError(name, -r, object);
    return r;
  }
}

/** Calls `name` and returns the raw result, -errno included. */
export function sysRaw(
  name: SyscallName,
  a0?: Word,
  a1?: Word,
  a2?: Word,
  a3?: Word,
  a4?: Word,
  a5?: Word,
): number {
  return rawSyscall(HOST_SYSCALLS[name], a0, a1, a2, a3, a4, a5);
}

/** statx(2)'s mask asking for the file type only. */
const STATX_TYPE = 0x1;
/** struct statx: where it keeps stx_mode and stx_rdev_major, stx_rdev_minor. */
const STX = { mode: 0x1c, rdevMajor: 0x80, rdevMinor: 0x84, size: 0x100 } as const;
const statxBuf = new Uint8Array(STX.size);
const statxView = new DataView(statxBuf.buffer);

/** A file's type (S_IF.* bits of its mode) and device number, as fileType() reads them. */
export interface FileType {
  readonly type: number;
  readonly rdevMajor: number;
  readonly rdevMinor: number;
}

/**
 * The type of the file at `path` (a last symlink followed unless `follow` is
 * false) from one statx(2), or undefined when it cannot be read (absent, not
 * searchable): an answer rather than an exception, for lookups that mostly
 * miss (a path through an image's layers, a container's masked paths).
 */
export function fileType(path: string, follow = true): FileType | undefined {
  if (statxType(path, follow) < 0) return undefined;
  return {
    type: statxView.getUint16(STX.mode, true) & S_IF.MT,
    rdevMajor: statxView.getUint32(STX.rdevMajor, true),
    rdevMinor: statxView.getUint32(STX.rdevMinor, true),
  };
}

/** statx(2) of `path`'s type into statxBuf: 0, or the negative errno. */
function statxType(path: string, follow: boolean): number {
  const flags = follow ? 0 : AT.SYMLINK_NOFOLLOW;
  return sysRaw(
    "statx",
    AT.FDCWD,
    addressOf(cString(path)),
    flags,
    STATX_TYPE,
    addressOf(statxBuf),
  );
}

/**
 * Whether anything is at `path` (a last symlink itself unless `follow`);
 * false only when there is nothing (ENOENT, ENOTDIR), which costs no
 * exception; any other failure is thrown.
 */
export function exists(path: string, follow = false): boolean {
  const r = statxType(path, follow);
  if (r === -errno("ENOENT") || r === -errno("ENOTDIR")) return false;
  if (r < 0) throw new SyscallError("statx", -r, path);
  return true;
}

/**
 * unlinkat(2) of a file (not a directory); false when there was none, which
 * costs no exception (a record's exit file, socket or temporary file is
 * often gone already).
 */
export function unlink(path: string): boolean {
  const r = sysRaw("unlinkat", AT.FDCWD, addressOf(cString(path)), 0);
  if (r === -errno("ENOENT")) return false;
  if (r < 0) throw new SyscallError("unlinkat", -r, path);
  return true;
}

/** pipe2(O_CLOEXEC): [read end, write end]. */
export function pipe(flags: number = O.CLOEXEC): [number, number] {
  const fds = new Int32Array(2);
  sys("pipe2", "pipe", addressOf(new Uint8Array(fds.buffer)), flags);
  return [fds[0], fds[1]];
}

/** close(2), ignoring EBADF-free failures is not allowed: it throws. */
export function close(fd: number): void {
  sys("close", `fd ${fd}`, fd);
}

/** fcntl(F_DUPFD_CLOEXEC): a copy of `fd` at the lowest free number. */
export function dupCloexec(fd: number, what = `fd ${fd}`): number {
  return sys("fcntl", what, fd, F.DUPFD_CLOEXEC, 0);
}

/** read(2) into `buf`; returns the byte count (0 at EOF). Blocking, on a worker thread. */
export function readAsync(fd: number, buf: Uint8Array, what = `fd ${fd}`): Promise<number> {
  return sysAsync("read", what, fd, addressOf(buf), buf.length);
}

/** read(2) on the calling thread. */
export function readSync(fd: number, buf: Uint8Array, what = `fd ${fd}`): number {
  return sys("read", what, fd, addressOf(buf), buf.length);
}

/** poll(2)'s "data to read". */
const POLLIN = 0x1;

/**
 * Waits at most `ms` milliseconds for `fd` to have data or a hang-up
 * (ppoll(2)); returns whether it has. Blocks the calling thread: for a
 * command with nothing else to do meanwhile.
 */
export function waitReadable(fd: number, ms: number, what = `fd ${fd}`): boolean {
  const pollfd = new Uint8Array(8); // struct pollfd: int fd; short events, revents
  const view = new DataView(pollfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLIN, true);
  const timeout = new BigInt64Array([BigInt(Math.floor(ms / 1000)), BigInt((ms % 1000) * 1e6)]);
  for (;;) {
    const r = sysRaw(
      "ppoll",
      addressOf(pollfd),
      1,
      addressOf(new Uint8Array(timeout.buffer)),
      0,
      0,
    );
    if (r === -4) continue; // EINTR: waited less, which the callers' loops allow for
    if (r < 0) throw new SyscallError("ppoll", -r, what);
    return r > 0;
  }
}

/** write(2) of the whole buffer on a worker thread: a full pipe blocks that thread, not this one. */
export async function writeAllAsync(fd: number, buf: Uint8Array, what = `fd ${fd}`): Promise<void> {
  for (let off = 0; off < buf.length;) {
    const part = buf.subarray(off);
    off += await sysAsync("write", what, fd, addressOf(part), part.length);
  }
}

/** write(2) of the whole buffer. */
export function writeAll(fd: number, buf: Uint8Array, what = `fd ${fd}`): void {
  let off = 0;
  while (off < buf.length) {
    const part = buf.subarray(off);
    const r = sysRaw("write", fd, addressOf(part), part.length);
    if (r === -4) continue;
    if (r < 0) throw new SyscallError("write", -r, what);
    off += r;
  }
}

/** openat(AT_FDCWD, path, flags|O_CLOEXEC, mode). */
export function open(path: string, flags: number, mode = 0): number {
  return sys("openat", path, AT.FDCWD, addressOf(cString(path)), flags | O.CLOEXEC, mode);
}

/** ioctl(2) with a pointer or integer argument. */
export function ioctl(fd: number, req: number, arg: Word | Uint8Array, what = `fd ${fd}`): number {
  return sys("ioctl", what, fd, req, arg instanceof Uint8Array ? addressOf(arg) : arg);
}

/** struct open_how of openat2(2): flags, mode and resolve, three u64s. */
export function openHow(flags: number, mode: number, resolve: number): Uint8Array {
  const how = new BigUint64Array([BigInt(flags), BigInt(mode), BigInt(resolve)]);
  return new Uint8Array(how.buffer);
}

/**
 * openat2(dirfd, path, {flags|O_CLOEXEC, mode, resolve}): the path is looked
 * up as `resolve` says (RESOLVE_IN_ROOT: `/` and `..` stop at dirfd;
 * RESOLVE_NO_SYMLINKS; ...). Linux 5.6.
 */
export function openat2(
  dirfd: number,
  path: string,
  flags: number,
  resolve: number,
  mode = 0,
): number {
  const how = openHow(flags | O.CLOEXEC, mode, resolve);
  return sys("openat2", path, dirfd, addressOf(cString(path)), addressOf(how), how.length);
}

/** The kernel's dev_t of a major/minor pair (glibc's makedev). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major), mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}
