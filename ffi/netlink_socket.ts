/**
 * A netlink socket (NETLINK_ROUTE, or NETLINK_NETFILTER for nf_tables): send a
 * request, collect its reply (acknowledgement, error or multi-part dump), or
 * send a batch of requests in one datagram and collect each one's
 * acknowledgement; turn a kernel error into an error that names the operation
 * and the object: `create bridge ctr0: EEXIST (File exists)`.
 *
 * A socket belongs for life to the network namespace it was created in, so
 * one opened inside another namespace (setns on the calling thread, socket,
 * setns back) configures that namespace from outside.
 * @module
 */

import { AF, CLONE, MSG, O, SOCK } from "./constants.ts";
import { SyscallError } from "./errno.ts";
import {
  BatchCollector,
  encodeMessage,
  NETLINK_NETFILTER,
  NETLINK_OPT,
  NETLINK_ROUTE,
  type NlError,
  NLM_F,
  NLM_F_GET,
  type NlMessage,
  ReplyCollector,
  SOL_NETLINK,
} from "./netlink.ts";
import { concat } from "./bytes.ts";
import { addressOf, close, open, sys, sysRaw } from "./sys.ts";

/** Bytes of the receive buffer: more than one dump datagram holds. */
const RECV_SIZE = 64 * 1024;
/** Tries of a dump that the kernel flagged as inconsistent (NLM_F_DUMP_INTR). */
const DUMP_TRIES = 3;
const EINTR = 4;
const EAGAIN = 11;

/** A network namespace: of a process, by a path (/run/netns/x, /proc/PID/ns/net), or an open fd. */
export type NetnsRef = { pid: number } | { path: string } | { fd: number };

/** A readable name of a namespace reference. */
export function netnsLabel(ns: NetnsRef): string {
  return "pid" in ns ? `/proc/${ns.pid}/ns/net` : "path" in ns ? ns.path : `netns fd ${ns.fd}`;
}

/**
 * Runs `fn` with the calling thread in another network namespace and always
 * brings the thread back, even when `fn` throws. `fn` must be synchronous:
 * anything it leaves for later would run back in ctr's own namespace.
 */
export function withNetns<T>(ns: NetnsRef, fn: () => T): T {
  const label = netnsLabel(ns);
  const own = open("/proc/thread-self/ns/net", O.RDONLY);
  try {
    const target = "fd" in ns ? ns.fd : open(label, O.RDONLY);
    try {
      sys("setns", label, target, CLONE.NEWNET);
      let outcome: { ok: true; value: T } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, value: fn() };
      } catch (error) {
        outcome = { ok: false, error };
      }
      // Back home before anything else, whatever fn did.
      const r = sysRaw("setns", own, CLONE.NEWNET);
      if (r < 0) {
        throw new SyscallError(
          "setns",
          -r,
          "back to ctr's own network namespace",
          `this thread stays in ${label}`,
        );
      }
      if (!outcome.ok) throw outcome.error;
      if (outcome.value instanceof Promise) {
        throw new Error(`withNetns() takes a synchronous function (in ${label})`);
      }
      return outcome.value;
    } finally {
      if (!("fd" in ns)) close(target);
    }
  } finally {
    close(own);
  }
}

/** A request failed in the kernel: the operation, the object, the errno and the kernel's words. */
export class NetlinkError extends SyscallError {
  /** The kernel's explanation, from the extended acknowledgement. */
  readonly kernelMessage?: string;

  constructor(operation: string, error: Pick<NlError, "errno" | "message">, object?: string) {
    super(operation, error.errno, object, error.message);
    this.name = "NetlinkError";
    this.kernelMessage = error.message;
  }
}

/** The netlink protocols ctr speaks, by name (for errors) and number. */
const PROTOCOLS = { route: NETLINK_ROUTE, netfilter: NETLINK_NETFILTER } as const;
/** A netlink protocol ctr speaks: rtnetlink or nfnetlink. */
export type NetlinkProtocol = keyof typeof PROTOCOLS;

/** One request: the message type, flags beyond NLM_F_REQUEST, payload, and what it does. */
export interface NetlinkRequest {
  type: number;
  /** NLM_F_* flags; NLM_F_REQUEST is added, and NLM_F_ACK unless it is a dump. */
  flags?: number;
  payload: Uint8Array;
  /** The operation for errors, e.g. "create bridge". */
  op: string;
  /** The object for errors, e.g. the link's name. */
  object?: string;
}

/** One message of a batch; NLM_F_ACK is added unless `ack` is false. */
export interface BatchRequest extends NetlinkRequest {
  /** Whether the kernel acknowledges it (default true); the markers around a transaction take none. */
  ack?: boolean;
}

function describe(req: NetlinkRequest): string {
  return `netlink ${req.op}${req.object ? ` ${req.object}` : ""}`;
}

/**
 * Scratch memory for one sendmsg or recvmsg call, kept by the socket so that
 * nothing the kernel reads through a pointer can be collected meanwhile:
 *
 * | offset | size | content                                                  |
 * | ------ | ---- | -------------------------------------------------------- |
 * | 0      | 56   | struct msghdr: name, namelen, iov, iovlen, control,      |
 * |        |      | controllen, flags (64-bit layout, padded)                |
 * | 56     | 16   | struct iovec: base, len                                  |
 * | 72     | 12   | struct sockaddr_nl: family, pad, pid 0 (kernel), groups  |
 */
class MsgScratch {
  readonly bytes = new Uint8Array(84);
  readonly #v = new DataView(this.bytes.buffer);
  readonly address = addressOf(this.bytes);

  /** Points the message at `buf` (kept alive here), addressed to the kernel or not. */
  set(buf: Uint8Array, toKernel: boolean): bigint {
    this.bytes.fill(0);
    this.#keep = buf;
    const v = this.#v;
    if (toKernel) {
      v.setBigUint64(0, this.address + 72n, true);
      v.setUint32(8, 12, true);
      v.setUint16(72, AF.NETLINK, true);
    }
    v.setBigUint64(16, this.address + 56n, true);
    v.setBigUint64(24, 1n, true);
    v.setBigUint64(56, addressOf(buf), true);
    v.setBigUint64(64, BigInt(buf.length), true);
    return this.address;
  }

  /** msg_flags after recvmsg. */
  get flags(): number {
    return this.#v.getInt32(48, true);
  }

  #keep?: Uint8Array;
}

/** A netlink socket, bound, with extended acknowledgements when the kernel has them. */
export class NetlinkSocket implements Disposable {
  readonly fd: number;
  /** The namespace it was opened in ("own" for ctr's). */
  readonly netns: string;
  /** What it speaks. */
  readonly protocol: NetlinkProtocol;
  #seq = (Date.now() * 1000 + Math.floor(Math.random() * 1000)) >>> 0;
  #buf = new Uint8Array(RECV_SIZE);
  #scratch = new MsgScratch();
  #closed = false;

  private constructor(fd: number, netns: string, protocol: NetlinkProtocol) {
    this.fd = fd;
    this.netns = netns;
    this.protocol = protocol;
  }

  /** Opens a socket (rtnetlink unless `protocol` says) in ctr's own network namespace, or in `netns`. */
  static open(opts: { netns?: NetnsRef; protocol?: NetlinkProtocol } = {}): NetlinkSocket {
    const protocol = opts.protocol ?? "route";
    const what = `netlink ${protocol}`;
    const make = () =>
      sys("socket", what, AF.NETLINK, SOCK.RAW | SOCK.CLOEXEC, PROTOCOLS[protocol]);
    const fd = opts.netns ? withNetns(opts.netns, make) : make();
    const sock = new NetlinkSocket(fd, opts.netns ? netnsLabel(opts.netns) : "own", protocol);
    try {
      // struct sockaddr_nl { u16 nl_family; u16 nl_pad; u32 nl_pid; u32 nl_groups; }: pid 0, the kernel picks
      const addr = new Uint8Array(12);
      new DataView(addr.buffer).setUint16(0, AF.NETLINK, true);
      sys("bind", `${what} socket`, fd, addressOf(addr), addr.length);
      // Both are optional: older kernels answer ENOPROTOOPT and work without.
      const one = new Uint8Array(Int32Array.of(1).buffer);
      sysRaw("setsockopt", fd, SOL_NETLINK, NETLINK_OPT.EXT_ACK, addressOf(one), 4);
      sysRaw("setsockopt", fd, SOL_NETLINK, NETLINK_OPT.CAP_ACK, addressOf(one), 4);
    } catch (e) {
      sock.close();
      throw e;
    }
    return sock;
  }

  /**
   * Sends a request and returns the data messages of its reply. A dump
   * (NLM_F_DUMP) ends with NLMSG_DONE and is retried when the kernel flags
   * it inconsistent; anything else ends with its acknowledgement. A kernel
   * error throws NetlinkError.
   */
  request(req: NetlinkRequest): NlMessage[] {
    const dump = ((req.flags ?? 0) & NLM_F_GET.DUMP) === NLM_F_GET.DUMP;
    for (let attempt = 1;; attempt++) {
      const seq = this.#nextSeq();
      const flags = (req.flags ?? 0) | NLM_F.REQUEST | (dump ? 0 : NLM_F.ACK);
      this.#send(encodeMessage({ type: req.type, flags, seq, pid: 0, payload: req.payload }), req);
      const reply = new ReplyCollector(seq, dump);
      while (!reply.feed(this.#receive(req)));
      if (reply.error) throw new NetlinkError(req.op, reply.error, req.object);
      if (!reply.interrupted) return reply.messages;
      if (attempt === DUMP_TRIES) {
        throw new SyscallError(req.op, EINTR, req.object, "the dump changed under us each try");
      }
    }
  }

  /**
   * Sends the messages in one datagram and waits for the acknowledgement of
   * each that asks for one. The kernel handles the datagram before sendmsg
   * returns (an nfnetlink batch is one transaction: all or nothing), so its
   * answers are already queued. A kernel error throws NetlinkError naming the
   * first message (in the batch's order) that the kernel refused.
   */
  batch(messages: readonly BatchRequest[]): void {
    if (messages.length === 0) return;
    const seqs = messages.map(() => this.#nextSeq());
    const bytes = concat(...messages.map((m, i) =>
      encodeMessage({
        type: m.type,
        flags: (m.flags ?? 0) | NLM_F.REQUEST | (m.ack === false ? 0 : NLM_F.ACK),
        seq: seqs[i],
        pid: 0,
        payload: m.payload,
      })
    ));
    const first = messages[0];
    this.#send(bytes, first);
    const replies = new BatchCollector(seqs.filter((_, i) => messages[i].ack !== false));
    for (;;) {
      if (replies.done) break;
      const datagram = this.#receive(first, { orNothing: true });
      if (!datagram) break;
      replies.feed(datagram);
    }
    for (const [i, seq] of seqs.entries()) {
      const e = replies.errors.get(seq);
      if (e) throw new NetlinkError(messages[i].op, e, messages[i].object);
    }
    if (replies.errors.size > 0) {
      // An answer to no message of ours: the kernel gave up on the whole batch.
      const [e] = replies.errors.values();
      throw new NetlinkError(first.op, e, first.object);
    }
    if (!replies.done) {
      throw new SyscallError("recvmsg", EAGAIN, describe(first), "not every message was answered");
    }
  }

  /** Closes the socket (once). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    close(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    return this.#seq;
  }

  #send(bytes: Uint8Array, req: NetlinkRequest): void {
    if (this.#closed) throw new Error(`${req.op}: the netlink socket is closed`);
    for (;;) {
      const r = sysRaw("sendmsg", this.fd, this.#scratch.set(bytes, true), 0);
      if (r === -EINTR) continue;
      if (r < 0) throw new SyscallError("sendmsg", -r, describe(req));
      if (r !== bytes.length) {
        throw new Error(`${req.op}: sendmsg sent ${r} of ${bytes.length} bytes`);
      }
      return;
    }
  }

  /**
   * One datagram. The kernel queues a request's reply before sendmsg
   * returns, and the next part of a dump while the previous one is read, so
   * nothing here waits: an empty queue is an error, not a hang.
   */
  #receive(req: NetlinkRequest): Uint8Array;
  #receive(req: NetlinkRequest, opts: { orNothing: true }): Uint8Array | undefined;
  #receive(req: NetlinkRequest, opts: { orNothing?: boolean } = {}): Uint8Array | undefined {
    for (;;) {
      const r = sysRaw("recvmsg", this.fd, this.#scratch.set(this.#buf, false), MSG.DONTWAIT);
      if (r === -EINTR) continue;
      const what = describe(req);
      if (r === -EAGAIN) {
        if (opts.orNothing) return undefined;
        throw new SyscallError("recvmsg", EAGAIN, what, "no reply from the kernel");
      }
      if (r < 0) throw new SyscallError("recvmsg", -r, what);
      if (this.#scratch.flags & MSG.TRUNC) {
        throw new Error(`${what}: a reply was longer than ${RECV_SIZE} bytes and was cut`);
      }
      return this.#buf.slice(0, r);
    }
  }
}
