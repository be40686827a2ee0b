/**
 * File descriptors over AF_UNIX stream sockets (SCM_RIGHTS), as the OCI
 * runtime's `--console-socket` protocol uses them: the runtime connects to the
 * socket its caller (conmon, a containerd shim) listens on, sends the pty
 * master in one sendmsg whose data is a short name, and closes the socket. No
 * reply comes back. runc sends the master's file name ("/dev/ptmx"), crun a
 * single space; receivers use the data for a label at most.
 *
 * Paths longer than sockaddr_un holds (107 bytes and a NUL) still work: the
 * socket's directory is opened O_PATH and the address becomes
 * `/proc/self/fd/N/<name>`, which the kernel resolves like any other path.
 *
 * The structures are laid out for the 64-bit ABI that x86_64 and aarch64
 * share (both little-endian):
 *   msghdr (56 bytes): name ptr, namelen u32 + pad, iov ptr, iovlen u64,
 *                      control ptr, controllen u64, flags i32 + pad
 *   cmsghdr (16 bytes): len u64, level i32, type i32; data aligned to 8
 * @module
 */

import { AF, AT, O, SOCK } from "./constants.ts";
import { SyscallError } from "./errno.ts";
import { addressOf, cString, sys, sysAsync, sysRaw, writeAll } from "./sys.ts";
import type { Word } from "./stub.ts";

/** sys/socket.h: the socket level of control messages, and its SCM_RIGHTS type. */
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
/** Send flag: EPIPE instead of SIGPIPE when the peer is gone. */
const MSG_NOSIGNAL = 0x4000;
/** recvmsg flag: received descriptors are close-on-exec from the start. */
const MSG_CMSG_CLOEXEC = 0x40000000;
/** recvmsg result flag: the control buffer was too small and descriptors were dropped. */
const MSG_CTRUNC = 0x8;

const EINTR = 4;
const ENAMETOOLONG = 36;

/** Bytes of sun_path in struct sockaddr_un. */
const SUN_PATH_SIZE = 108;
/** Bytes of struct sockaddr_un: sun_family u16 and sun_path. */
const SOCKADDR_UN_SIZE = 2 + SUN_PATH_SIZE;
const MSGHDR_SIZE = 56;
const IOVEC_SIZE = 16;
const CMSGHDR_SIZE = 16;
/**
 * Largest payload accepted on either side: runc's receiver (utils.RecvFile)
 * reads names into a buffer of this size.
 */
export const MAX_PAYLOAD = 4096;
/** Descriptors one received message may carry before the rest are cut off (MSG_CTRUNC). */
const MAX_RECV_FDS = 16;

const enc = new TextEncoder();
const dec = new TextDecoder();

/** CMSG_ALIGN: control messages are aligned to the size of a long. */
function cmsgAlign(n: number): number {
  return (n + 7) & ~7;
}

/** CMSG_SPACE(n): bytes a control message with `n` data bytes takes in the buffer. */
function cmsgSpace(n: number): number {
  return CMSGHDR_SIZE + cmsgAlign(n);
}

/** CMSG_LEN(n): the cmsg_len of a control message with `n` data bytes. */
function cmsgLen(n: number): number {
  return CMSGHDR_SIZE + n;
}

/** A struct sockaddr_un for `sunPath` (shorter than 108 bytes); the length to pass is `len`. */
function sockaddrUn(sunPath: Uint8Array): { addr: Uint8Array; len: number } {
  const addr = new Uint8Array(SOCKADDR_UN_SIZE);
  new DataView(addr.buffer).setUint16(0, AF.UNIX, true);
  addr.set(sunPath, 2);
  return { addr, len: 2 + sunPath.length + 1 };
}

/**
 * Runs `call` with a sockaddr_un that names `path`: the path itself when it
 * fits, else `/proc/self/fd/N/<name>` through an O_PATH fd of its directory,
 * which stays open until `call` returns. `op` names the syscall in errors.
 */
function withAddress<T>(
  op: "bind" | "connect",
  path: string,
  call: (addr: Uint8Array, len: number) => T,
): T {
  if (path === "") throw new Error(`${op}: empty socket path`);
  if (path.includes("\0")) throw new Error(`${op} ${path}: the socket path contains a NUL byte`);
  const bytes = enc.encode(path);
  if (bytes.length < SUN_PATH_SIZE) {
    const { addr, len } = sockaddrUn(bytes);
    return call(addr, len);
  }
  const slash = path.lastIndexOf("/");
  const name = path.slice(slash + 1);
  if (slash < 0 || name === "") {
    throw new SyscallError(
      op,
      ENAMETOOLONG,
      path,
      `a socket address holds ${SUN_PATH_SIZE - 1} bytes; this path has ${bytes.length}`,
    );
  }
  const dir = slash === 0 ? "/" : path.slice(0, slash);
  const dirName = cString(dir);
  const dirFd = sysRaw("openat", AT.FDCWD, addressOf(dirName), O.PATH | O.DIRECTORY | O.CLOEXEC);
  void dirName; // its buffer, read by the kernel through a raw address, stays reachable until here
  if (dirFd < 0) throw new SyscallError("openat", -dirFd, dir, `the directory of socket ${path}`);
  try {
    const alias = enc.encode(`/proc/self/fd/${dirFd}/${name}`);
    if (alias.length >= SUN_PATH_SIZE) {
      throw new SyscallError(
        op,
        ENAMETOOLONG,
        path,
        `the file name is too long for a socket address even as /proc/self/fd/${dirFd}/<name>`,
      );
    }
    const { addr, len } = sockaddrUn(alias);
    return call(addr, len);
  } finally {
    sysRaw("close", dirFd);
  }
}

/** Calls `name` again while it fails with EINTR; other failures throw SyscallError on `object`. */
function sysRetry(
  name: "connect" | "sendmsg" | "accept4",
  object: string,
  ...args: Word[]
): number {
  for (;;) {
    const r = sysRaw(name, ...args);
    if (r === -EINTR) continue;
    if (r < 0 && r > -4096) throw new SyscallError(name, -r, object);
    return r;
  }
}

/**
 * Connects to the AF_UNIX stream socket at `socketPath` and sends `fd` with
 * SCM_RIGHTS in one sendmsg whose data is `payload`, then closes the
 * connection: the OCI runtime's `--console-socket` handover. The default
 * payload is what runc sends, the pty master's file name. An empty payload is
 * sent as one space (as crun does), because a stream socket carries no control
 * message without at least one data byte. Blocks while the listener's backlog
 * is full. Errors name the call, the socket path and the errno
 * (`connect /run/x.sock: ECONNREFUSED (Connection refused)`).
 */
export function sendFd(socketPath: string, fd: number, payload = "/dev/ptmx"): void {
  if (!Number.isInteger(fd) || fd < 0) throw new Error(`sendFd ${socketPath}: bad fd ${fd}`);
  const data = enc.encode(payload === "" ? " " : payload);
  if (data.length > MAX_PAYLOAD) {
    throw new Error(
      `sendFd ${socketPath}: payload of ${data.length} bytes (at most ${MAX_PAYLOAD})`,
    );
  }
  const sock = sys("socket", socketPath, AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC, 0);
  try {
    withAddress("connect", socketPath, (addr, len) => {
      sysRetry("connect", socketPath, sock, addressOf(addr), len);
    });

    const iov = new Uint8Array(IOVEC_SIZE);
    const iovView = new DataView(iov.buffer);
    iovView.setBigUint64(0, addressOf(data), true);
    iovView.setBigUint64(8, BigInt(data.length), true);

    const control = new Uint8Array(cmsgSpace(4));
    const cmsg = new DataView(control.buffer);
    cmsg.setBigUint64(0, BigInt(cmsgLen(4)), true);
    cmsg.setInt32(8, SOL_SOCKET, true);
    cmsg.setInt32(12, SCM_RIGHTS, true);
    cmsg.setInt32(CMSGHDR_SIZE, fd, true);

    const msg = new Uint8Array(MSGHDR_SIZE); // msg_name NULL: the socket is connected
    const m = new DataView(msg.buffer);
    m.setBigUint64(16, addressOf(iov), true);
    m.setBigUint64(24, 1n, true);
    m.setBigUint64(32, addressOf(control), true);
    m.setBigUint64(40, BigInt(control.length), true);

    const sent = sysRetry("sendmsg", socketPath, sock, addressOf(msg), MSG_NOSIGNAL);
    // The descriptor went with the first byte; a short send only leaves data behind.
    if (sent < data.length) writeAll(sock, data.subarray(sent), socketPath);
    // Keeps the buffers the kernel read through raw addresses reachable until here.
    void [iov, control, msg, data];
  } finally {
    // A unix socket reports nothing at close; a failure would not change the outcome.
    sysRaw("close", sock);
  }
}

/**
 * Creates an AF_UNIX stream socket bound to `path` and listening with a
 * backlog of `backlog` (default 1: one console per socket); returns its fd
 * (close-on-exec). A path longer than a socket address holds is bound
 * through its directory's `/proc/self/fd` entry. The socket file stays until
 * the caller removes it.
 */
export function listenUnix(path: string, backlog = 1): number {
  const sock = sys("socket", path, AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC, 0);
  try {
    withAddress("bind", path, (addr, len) => {
      sys("bind", path, sock, addressOf(addr), len);
    });
    sys("listen", path, sock, backlog);
    return sock;
  } catch (e) {
    sysRaw("close", sock);
    throw e;
  }
}

/** A descriptor received over a unix socket and the data that came with it. */
export interface ReceivedFd {
  /** The received descriptor, close-on-exec; the caller closes it. */
  fd: number;
  /** The message's data as text, trailing NUL bytes removed (C senders may include one). */
  payload: string;
}

/** The buffers of one recvmsg: a msghdr pointing at room for the data and the control messages. */
function recvBuffers() {
  const data = new Uint8Array(MAX_PAYLOAD);
  const control = new Uint8Array(cmsgSpace(4 * MAX_RECV_FDS));
  const iov = new Uint8Array(IOVEC_SIZE);
  const iovView = new DataView(iov.buffer);
  iovView.setBigUint64(0, addressOf(data), true);
  iovView.setBigUint64(8, BigInt(data.length), true);
  const msg = new Uint8Array(MSGHDR_SIZE);
  const m = new DataView(msg.buffer);
  m.setBigUint64(16, addressOf(iov), true);
  m.setBigUint64(24, 1n, true);
  m.setBigUint64(32, addressOf(control), true);
  m.setBigUint64(40, BigInt(control.length), true);
  return { data, control, iov, msg };
}

/**
 * Reads what recvmsg left in `bufs` (`n` data bytes): exactly one descriptor
 * is expected, as runc's receiver does; on any other outcome every received
 * descriptor is closed and the error names `what`.
 */
function parseReceived(bufs: ReturnType<typeof recvBuffers>, n: number, what: string): ReceivedFd {
  const m = new DataView(bufs.msg.buffer);
  const controlLen = Number(m.getBigUint64(40, true));
  const flags = m.getInt32(48, true);
  const cmsg = new DataView(bufs.control.buffer);
  const fds: number[] = [];
  for (let off = 0; off + CMSGHDR_SIZE <= controlLen;) {
    const len = Number(cmsg.getBigUint64(off, true));
    if (len < CMSGHDR_SIZE || off + len > controlLen) break;
    if (
      cmsg.getInt32(off + 8, true) === SOL_SOCKET && cmsg.getInt32(off + 12, true) === SCM_RIGHTS
    ) {
      for (let p = off + CMSGHDR_SIZE; p + 4 <= off + len; p += 4) fds.push(cmsg.getInt32(p, true));
    }
    off += cmsgAlign(len);
  }
  const payload = dec.decode(bufs.data.subarray(0, n)).replace(/\0+$/, "");
  const fail = (why: string): never => {
    for (const fd of fds) sysRaw("close", fd);
    throw new Error(`recvmsg ${what}: ${why}`);
  };
  if (flags & MSG_CTRUNC) fail(`more than ${MAX_RECV_FDS} descriptors; the rest were dropped`);
  if (fds.length === 0) {
    fail(n === 0 ? "the peer closed without sending" : `no descriptor came with "${payload}"`);
  }
  if (fds.length > 1) fail(`${fds.length} descriptors came; one was expected`);
  return { fd: fds[0], payload };
}

/**
 * Accepts one connection on `listenFd` (from listenUnix) and receives the
 * descriptor its peer sends with SCM_RIGHTS, as conmon does with a runtime's
 * console: one recvmsg, then the connection is closed. Blocks the calling
 * thread until a peer connects and sends; recvFdAsync waits on a worker
 * thread instead. Connecting never waits for accept (the connection queues
 * in the backlog), so a sender on the same thread may run first.
 */
export function recvFd(listenFd: number): ReceivedFd {
  const what = `listening socket fd ${listenFd}`;
  const conn = sysRetry("accept4", what, listenFd, 0, 0, SOCK.CLOEXEC);
  try {
    const bufs = recvBuffers();
    for (;;) {
      const r = sysRaw("recvmsg", conn, addressOf(bufs.msg), MSG_CMSG_CLOEXEC);
      if (r === -EINTR) continue;
      if (r < 0 && r > -4096) throw new SyscallError("recvmsg", -r, what);
      return parseReceived(bufs, r, what);
    }
  } finally {
    sysRaw("close", conn);
  }
}

/** recvFd with the blocking accept and recvmsg on a worker thread, leaving the event loop free. */
export async function recvFdAsync(listenFd: number): Promise<ReceivedFd> {
  const what = `listening socket fd ${listenFd}`;
  const conn = await sysAsync("accept4", what, listenFd, 0, 0, SOCK.CLOEXEC);
  try {
    const bufs = recvBuffers();
    const r = await sysAsync("recvmsg", what, conn, addressOf(bufs.msg), MSG_CMSG_CLOEXEC);
    return parseReceived(bufs, r, what);
  } finally {
    sysRaw("close", conn);
  }
}
