/**
 * rtnetlink messages as bytes: the netlink header, the link, address and
 * route headers, attributes (rtattr) with their 4-byte alignment and nesting,
 * errors, acknowledgements and multi-part dumps. A pure codec: no I/O (the
 * socket is in netlink_socket.ts).
 *
 * Netlink uses the host's byte order; both architectures ctr runs on
 * (x86_64, aarch64 Linux) are little-endian. Every struct below is quoted
 * from its kernel header with its layout as a field table.
 * @module
 */

import { AF, IFF } from "./constants.ts";
import { errnoName, errnoText } from "./errno.ts";
import { concat } from "./bytes.ts";

export { errnoName, IFF };

/** Host byte order (little-endian on every architecture ctr supports). */
const LE = true;

// ---------------------------------------------------------------------------
// Constants (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h,
// linux/if_addr.h, linux/veth.h). Each table maps name → value; nameOf()
// maps back for readable output.

/** The netlink protocol of routing messages (socket's third argument). */
export const NETLINK_ROUTE = 0;
/** The netlink protocol of netfilter messages: nf_tables, conntrack, queues (nfnetlink). */
export const NETLINK_NETFILTER = 12;
/** setsockopt level of netlink socket options. */
export const SOL_NETLINK = 270;
/** Netlink socket options (linux/netlink.h). */
export const NETLINK_OPT = { CAP_ACK: 10, EXT_ACK: 11, GET_STRICT_CHK: 12 } as const;

/** Control message types, below every protocol's own types. */
export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

/** rtnetlink message types: NEW/DEL/GET/SET per object, 4 apart. */
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
} as const;

/** nlmsg_flags common to every message. */
export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  DUMP_FILTERED: 0x20,
} as const;
/** nlmsg_flags of GET requests. */
export const NLM_F_GET = { DUMP: 0x300, ROOT: 0x100, MATCH: 0x200, ATOMIC: 0x400 } as const;
/** nlmsg_flags of NEW requests. */
export const NLM_F_NEW = { REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400, APPEND: 0x800 } as const;
/** nlmsg_flags of NLMSG_ERROR replies. */
export const NLM_F_ERR = { CAPPED: 0x100, ACK_TLVS: 0x200 } as const;

/** Attributes of the extended acknowledgement that follows an error. */
export const NLMSGERR_ATTR = { MSG: 1, OFFS: 2, COOKIE: 3, POLICY: 4 } as const;

/** Flag bits in rta_type; the rest is the type. */
export const NLA_F = { NESTED: 0x8000, NET_BYTEORDER: 0x4000 } as const;
const NLA_TYPE_MASK = 0x3fff;

/** Link attributes (IFLA_*, linux/if_link.h). */
export const IFLA = {
  ADDRESS: 1,
  BROADCAST: 2,
  IFNAME: 3,
  MTU: 4,
  LINK: 5,
  QDISC: 6,
  STATS: 7,
  MASTER: 10,
  TXQLEN: 13,
  MAP: 14,
  OPERSTATE: 16,
  LINKMODE: 17,
  LINKINFO: 18,
  NET_NS_PID: 19,
  IFALIAS: 20,
  STATS64: 23,
  AF_SPEC: 26,
  GROUP: 27,
  NET_NS_FD: 28,
  EXT_MASK: 29,
  PROMISCUITY: 30,
  NUM_TX_QUEUES: 31,
  NUM_RX_QUEUES: 32,
  CARRIER: 33,
  CARRIER_CHANGES: 35,
  LINK_NETNSID: 37,
  PROTO_DOWN: 39,
  GSO_MAX_SEGS: 40,
  GSO_MAX_SIZE: 41,
  XDP: 43,
  NEW_NETNSID: 45,
  TARGET_NETNSID: 46,
  CARRIER_UP_COUNT: 47,
  CARRIER_DOWN_COUNT: 48,
  NEW_IFINDEX: 49,
  MIN_MTU: 50,
  MAX_MTU: 51,
  PROP_LIST: 52,
  ALT_IFNAME: 53,
  PERM_ADDRESS: 54,
  PARENT_DEV_NAME: 56,
  PARENT_DEV_BUS_NAME: 57,
  GRO_MAX_SIZE: 58,
  TSO_MAX_SIZE: 59,
  TSO_MAX_SEGS: 60,
  ALLMULTI: 61,
} as const;

/** Attributes nested in IFLA_LINKINFO. */
export const IFLA_INFO = { KIND: 1, DATA: 2, XSTATS: 3, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
/** Attributes nested in IFLA_INFO_DATA of a veth (linux/veth.h). */
export const VETH_INFO = { PEER: 1 } as const;
/** IFLA_OPERSTATE values (RFC 2863). */
export const IF_OPER = {
  UNKNOWN: 0,
  NOTPRESENT: 1,
  DOWN: 2,
  LOWERLAYERDOWN: 3,
  TESTING: 4,
  DORMANT: 5,
  UP: 6,
} as const;

/** Address attributes (IFA_*, linux/if_addr.h). */
export const IFA = {
  ADDRESS: 1,
  LOCAL: 2,
  LABEL: 3,
  BROADCAST: 4,
  ANYCAST: 5,
  CACHEINFO: 6,
  MULTICAST: 7,
  FLAGS: 8,
  RT_PRIORITY: 9,
  TARGET_NETNSID: 10,
  PROTO: 11,
} as const;
/** Address flags (ifa_flags; IFA_FLAGS carries all 32 bits). */
export const IFA_F = {
  SECONDARY: 0x01,
  NODAD: 0x02,
  OPTIMISTIC: 0x04,
  DADFAILED: 0x08,
  HOMEADDRESS: 0x10,
  DEPRECATED: 0x20,
  TENTATIVE: 0x40,
  PERMANENT: 0x80,
  MANAGETEMPADDR: 0x100,
  NOPREFIXROUTE: 0x200,
} as const;

/** Route attributes (RTA_*, linux/rtnetlink.h). */
export const RTA = {
  DST: 1,
  SRC: 2,
  IIF: 3,
  OIF: 4,
  GATEWAY: 5,
  PRIORITY: 6,
  PREFSRC: 7,
  METRICS: 8,
  MULTIPATH: 9,
  FLOW: 11,
  CACHEINFO: 12,
  TABLE: 15,
  MARK: 16,
  VIA: 18,
  PREF: 20,
  EXPIRES: 23,
  UID: 25,
} as const;
/** Routing tables. */
export const RT_TABLE = { UNSPEC: 0, DEFAULT: 253, MAIN: 254, LOCAL: 255 } as const;
/** Who installed a route (rtm_protocol). */
export const RTPROT = { UNSPEC: 0, REDIRECT: 1, KERNEL: 2, BOOT: 3, STATIC: 4 } as const;
/** Route and address scopes. */
export const RT_SCOPE = { UNIVERSE: 0, SITE: 200, LINK: 253, HOST: 254, NOWHERE: 255 } as const;
/** Route types (rtm_type). */
export const RTN = {
  UNSPEC: 0,
  UNICAST: 1,
  LOCAL: 2,
  BROADCAST: 3,
  ANYCAST: 4,
  MULTICAST: 5,
  BLACKHOLE: 6,
  UNREACHABLE: 7,
  PROHIBIT: 8,
  THROW: 9,
  NAT: 10,
} as const;

/** The name of `value` in `table` with `prefix`, or prefix#value when it has none. */
export function nameOf(table: Record<string, number>, value: number, prefix = ""): string {
  for (const [k, v] of Object.entries(table)) if (v === value) return prefix + k;
  return `${prefix}#${value}`;
}

/** The value of a name, with or without its prefix (IFLA_MTU or MTU). */
export function valueOf(table: Record<string, number>, name: string, prefix = ""): number {
  const key = name.startsWith(prefix) ? name.slice(prefix.length) : name;
  const v = table[key];
  if (v === undefined) throw new Error(`Unknown netlink name: ${name}`);
  return v;
}

/** NLM_F_* names of a message's flags; their meaning depends on the message type. */
export function nlmFlagNames(type: number, flags: number): string {
  const high: Record<string, number> = type === NLMSG.ERROR
    ? NLM_F_ERR
    : type >= 16 && type % 4 === 2
    ? NLM_F_GET
    : type >= 16 && type % 4 === 0
    ? NLM_F_NEW
    : {};
  let rest = flags;
  const parts: string[] = [];
  for (const [k, v] of [...Object.entries(NLM_F), ...Object.entries(high)]) {
    if ((rest & v) === v) {
      parts.push("NLM_F_" + k);
      rest &= ~v;
    }
  }
  if (rest) parts.push("0x" + rest.toString(16));
  return parts.length ? parts.join("|") : "0";
}

// ---------------------------------------------------------------------------
// Bytes

/** Rounds up to the 4-byte netlink alignment (NLMSG_ALIGN, RTA_ALIGN). */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** A malformed message or attribute: says what and at which byte. */
export class NetlinkDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetlinkDecodeError";
  }
}

function need(b: Uint8Array, size: number, what: string): DataView {
  if (b.length < size) {
    throw new NetlinkDecodeError(`Malformed ${what}: ${b.length} bytes, expected ${size}`);
  }
  return view(b);
}

// ---------------------------------------------------------------------------
// struct nlmsghdr and whole messages

/**
 * struct nlmsghdr (linux/netlink.h): 16 bytes, then the payload, padded to 4.
 *
 * | offset | size | field       | meaning                                   |
 * | ------ | ---- | ----------- | ----------------------------------------- |
 * | 0      | 4    | nlmsg_len   | length of header and payload (unpadded)   |
 * | 4      | 2    | nlmsg_type  | RTM_*, NLMSG_ERROR, NLMSG_DONE            |
 * | 6      | 2    | nlmsg_flags | NLM_F_*                                   |
 * | 8      | 4    | nlmsg_seq   | sequence number, echoed in replies        |
 * | 12     | 4    | nlmsg_pid   | port id of the sender (0: the kernel)     |
 */
export const NLMSGHDR_LEN = 16;

/** One netlink message: its header fields and its payload (header excluded). */
export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Uint8Array;
}

/** Encodes a message: header with nlmsg_len, payload, padding to 4 bytes. */
export function encodeMessage(m: NlMessage): Uint8Array {
  const len = NLMSGHDR_LEN + m.payload.length;
  const out = new Uint8Array(align4(len));
  const v = view(out);
  v.setUint32(0, len, LE);
  v.setUint16(4, m.type, LE);
  v.setUint16(6, m.flags, LE);
  v.setUint32(8, m.seq >>> 0, LE);
  v.setUint32(12, m.pid >>> 0, LE);
  out.set(m.payload, NLMSGHDR_LEN);
  return out;
}

/** Splits a datagram into its messages; each message's length must fit. */
export function decodeMessages(buf: Uint8Array): NlMessage[] {
  const out: NlMessage[] = [];
  const v = view(buf);
  let off = 0;
  while (off + NLMSGHDR_LEN <= buf.length) {
    const len = v.getUint32(off, LE);
    if (len < NLMSGHDR_LEN || off + len > buf.length) {
      throw new NetlinkDecodeError(
        `Malformed netlink message at byte ${off}: nlmsg_len ${len}, ${
          buf.length - off
        } bytes left`,
      );
    }
    out.push({
      type: v.getUint16(off + 4, LE),
      flags: v.getUint16(off + 6, LE),
      seq: v.getUint32(off + 8, LE),
      pid: v.getUint32(off + 12, LE),
      payload: buf.subarray(off + NLMSGHDR_LEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

// ---------------------------------------------------------------------------
// struct nlmsgerr: errors and acknowledgements

/**
 * struct nlmsgerr (linux/netlink.h), the payload of NLMSG_ERROR:
 *
 * | offset | size | field | meaning                                           |
 * | ------ | ---- | ----- | ------------------------------------------------- |
 * | 0      | 4    | error | 0 for an acknowledgement, else -errno             |
 * | 4      | 16   | msg   | the request's nlmsghdr                            |
 * | 20     | ...  |       | the request's payload, unless NLM_F_CAPPED is set |
 * | ...    | ...  |       | NLMSGERR_ATTR_* attributes when NLM_F_ACK_TLVS    |
 */
export interface NlError {
  /** The errno, positive; 0 for an acknowledgement. */
  errno: number;
  /** The header of the request it answers. */
  request: { len: number; type: number; flags: number; seq: number; pid: number };
  /** The kernel's explanation (extended ack, NLMSGERR_ATTR_MSG). */
  message?: string;
  /** Offset in the request of the attribute at fault (NLMSGERR_ATTR_OFFS). */
  offset?: number;
}

/** Decodes the payload of an NLMSG_ERROR message; `flags` are that message's. */
export function decodeError(payload: Uint8Array, flags = 0): NlError {
  const v = need(payload, 4 + NLMSGHDR_LEN, "nlmsgerr");
  const error = v.getInt32(0, LE);
  const request = {
    len: v.getUint32(4, LE),
    type: v.getUint16(8, LE),
    flags: v.getUint16(10, LE),
    seq: v.getUint32(12, LE),
    pid: v.getUint32(16, LE),
  };
  const out: NlError = { errno: error === 0 ? 0 : -error, request };
  if (flags & NLM_F_ERR.ACK_TLVS) {
    const start = 4 + (flags & NLM_F_ERR.CAPPED ? NLMSGHDR_LEN : align4(request.len));
    if (start <= payload.length) {
      const tlv = Attrs.parse(payload.subarray(start));
      out.message = tlv.string(NLMSGERR_ATTR.MSG);
      out.offset = tlv.has(NLMSGERR_ATTR.OFFS) ? tlv.u32(NLMSGERR_ATTR.OFFS) : undefined;
    }
  }
  return out;
}

/** Encodes an NLMSG_ERROR payload (capped: the request's header only). */
export function encodeError(errno: number, request: NlMessage, message?: string): Uint8Array {
  const head = new Uint8Array(4);
  view(head).setInt32(0, -errno, LE);
  const req = encodeMessage({ ...request, payload: new Uint8Array(0) });
  view(req).setUint32(0, NLMSGHDR_LEN + request.payload.length, LE);
  return concat(head, req, message ? rtaString(NLMSGERR_ATTR.MSG, message) : new Uint8Array(0));
}

/** "EEXIST (File exists)" for an errno. */
export function errnoLabel(errno: number): string {
  return `${errnoName(errno)} (${errnoText(errno)})`;
}

// ---------------------------------------------------------------------------
// Family headers

/**
 * struct ifinfomsg (linux/rtnetlink.h), 16 bytes, heads link messages:
 *
 * | offset | size | field      | meaning                                    |
 * | ------ | ---- | ---------- | ------------------------------------------ |
 * | 0      | 1    | ifi_family | AF_UNSPEC                                  |
 * | 1      | 1    | __pad      |                                            |
 * | 2      | 2    | ifi_type   | ARPHRD_* device type                       |
 * | 4      | 4    | ifi_index  | interface index (0: by IFLA_IFNAME / new)  |
 * | 8      | 4    | ifi_flags  | IFF_* flags                                |
 * | 12     | 4    | ifi_change | which IFF_* flags to change                |
 */
export interface IfInfoMsg {
  family: number;
  type: number;
  index: number;
  flags: number;
  change: number;
}
/** sizeof(struct ifinfomsg). */
export const IFINFOMSG_LEN = 16;

/** Encodes an ifinfomsg; missing fields are 0. */
export function encodeIfinfomsg(m: Partial<IfInfoMsg> = {}): Uint8Array {
  const out = new Uint8Array(IFINFOMSG_LEN);
  const v = view(out);
  v.setUint8(0, m.family ?? AF.UNSPEC);
  v.setUint16(2, m.type ?? 0, LE);
  v.setInt32(4, m.index ?? 0, LE);
  v.setUint32(8, (m.flags ?? 0) >>> 0, LE);
  v.setUint32(12, (m.change ?? 0) >>> 0, LE);
  return out;
}

/** Decodes an ifinfomsg from the start of `b`. */
export function decodeIfinfomsg(b: Uint8Array): IfInfoMsg {
  const v = need(b, IFINFOMSG_LEN, "ifinfomsg");
  return {
    family: v.getUint8(0),
    type: v.getUint16(2, LE),
    index: v.getInt32(4, LE),
    flags: v.getUint32(8, LE),
    change: v.getUint32(12, LE),
  };
}

/**
 * struct ifaddrmsg (linux/if_addr.h), 8 bytes, heads address messages:
 *
 * | offset | size | field         | meaning                               |
 * | ------ | ---- | ------------- | ------------------------------------- |
 * | 0      | 1    | ifa_family    | AF_INET, AF_INET6                     |
 * | 1      | 1    | ifa_prefixlen | prefix length of the address          |
 * | 2      | 1    | ifa_flags     | IFA_F_* (low 8 bits; IFA_FLAGS: all)  |
 * | 3      | 1    | ifa_scope     | RT_SCOPE_*                            |
 * | 4      | 4    | ifa_index     | interface index                       |
 */
export interface IfAddrMsg {
  family: number;
  prefixLen: number;
  flags: number;
  scope: number;
  index: number;
}
/** sizeof(struct ifaddrmsg). */
export const IFADDRMSG_LEN = 8;

/** Encodes an ifaddrmsg; missing fields are 0. */
export function encodeIfaddrmsg(m: Partial<IfAddrMsg> = {}): Uint8Array {
  const out = new Uint8Array(IFADDRMSG_LEN);
  const v = view(out);
  v.setUint8(0, m.family ?? AF.UNSPEC);
  v.setUint8(1, m.prefixLen ?? 0);
  v.setUint8(2, m.flags ?? 0);
  v.setUint8(3, m.scope ?? 0);
  v.setUint32(4, m.index ?? 0, LE);
  return out;
}

/** Decodes an ifaddrmsg from the start of `b`. */
export function decodeIfaddrmsg(b: Uint8Array): IfAddrMsg {
  const v = need(b, IFADDRMSG_LEN, "ifaddrmsg");
  return {
    family: v.getUint8(0),
    prefixLen: v.getUint8(1),
    flags: v.getUint8(2),
    scope: v.getUint8(3),
    index: v.getUint32(4, LE),
  };
}

/**
 * struct rtmsg (linux/rtnetlink.h), 12 bytes, heads route messages:
 *
 * | offset | size | field        | meaning                               |
 * | ------ | ---- | ------------ | ------------------------------------- |
 * | 0      | 1    | rtm_family   | AF_INET, AF_INET6                     |
 * | 1      | 1    | rtm_dst_len  | prefix length of the destination      |
 * | 2      | 1    | rtm_src_len  | prefix length of the source           |
 * | 3      | 1    | rtm_tos      | TOS filter                            |
 * | 4      | 1    | rtm_table    | RT_TABLE_* (RTA_TABLE for ids > 255)  |
 * | 5      | 1    | rtm_protocol | RTPROT_*: who installed it            |
 * | 6      | 1    | rtm_scope    | RT_SCOPE_*                            |
 * | 7      | 1    | rtm_type     | RTN_*                                 |
 * | 8      | 4    | rtm_flags    | RTM_F_*                               |
 */
export interface RtMsg {
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
}
/** sizeof(struct rtmsg). */
export const RTMSG_LEN = 12;

/** Encodes an rtmsg; missing fields are 0. */
export function encodeRtmsg(m: Partial<RtMsg> = {}): Uint8Array {
  const out = new Uint8Array(RTMSG_LEN);
  const v = view(out);
  const bytes = [m.family, m.dstLen, m.srcLen, m.tos, m.table, m.protocol, m.scope, m.type];
  bytes.forEach((b, i) => v.setUint8(i, b ?? 0));
  v.setUint32(8, (m.flags ?? 0) >>> 0, LE);
  return out;
}

/** Decodes an rtmsg from the start of `b`. */
export function decodeRtmsg(b: Uint8Array): RtMsg {
  const v = need(b, RTMSG_LEN, "rtmsg");
  const u = (i: number) => v.getUint8(i);
  return {
    family: u(0),
    dstLen: u(1),
    srcLen: u(2),
    tos: u(3),
    table: u(4),
    protocol: u(5),
    scope: u(6),
    type: u(7),
    flags: v.getUint32(8, LE),
  };
}

// ---------------------------------------------------------------------------
// struct rtattr: attributes

/**
 * struct rtattr (linux/rtnetlink.h; struct nlattr is the same), 4 bytes,
 * then the value, then padding to 4 bytes that rta_len does not count:
 *
 * | offset | size | field    | meaning                                     |
 * | ------ | ---- | -------- | ------------------------------------------- |
 * | 0      | 2    | rta_len  | 4 + length of the value (unpadded)          |
 * | 2      | 2    | rta_type | type; top bits NLA_F_NESTED, NET_BYTEORDER  |
 * | 4      | ...  | value    | a nested attribute's value is attributes    |
 */
export const RTA_HDR_LEN = 4;

/** An attribute with a raw value. */
export function rta(type: number, value: Uint8Array): Uint8Array {
  const len = RTA_HDR_LEN + value.length;
  if (len > 0xffff) throw new RangeError(`Netlink attribute ${type} too long: ${len} bytes`);
  const out = new Uint8Array(align4(len));
  const v = view(out);
  v.setUint16(0, len, LE);
  v.setUint16(2, type, LE);
  out.set(value, RTA_HDR_LEN);
  return out;
}

/** An attribute holding a u8. */
export function rtaU8(type: number, n: number): Uint8Array {
  return rta(type, Uint8Array.of(n));
}

/** An attribute holding a u32 in host byte order. */
export function rtaU32(type: number, n: number): Uint8Array {
  const b = new Uint8Array(4);
  view(b).setUint32(0, n >>> 0, LE);
  return rta(type, b);
}

/** An attribute holding a NUL-terminated string. */
export function rtaString(type: number, s: string): Uint8Array {
  return rta(type, new TextEncoder().encode(s + "\0"));
}

/** An attribute holding a u32 in network byte order, as nf_tables takes every number. */
export function rtaBe32(type: number, n: number): Uint8Array {
  const b = new Uint8Array(4);
  view(b).setUint32(0, n >>> 0, false);
  return rta(type, b);
}

/** An attribute holding a u64 in network byte order (nf_tables' handles). */
export function rtaBe64(type: number, n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  view(b).setBigUint64(0, n, false);
  return rta(type, b);
}

/** An attribute whose value is the given (already encoded) attributes. */
export function rtaNest(type: number, ...children: Uint8Array[]): Uint8Array {
  return rta(type, concat(...children));
}

/** One decoded attribute. */
export interface Attr {
  /** The type, flag bits removed. */
  readonly type: number;
  /** NLA_F_* bits of rta_type. */
  readonly flags: number;
  readonly value: Uint8Array;
}

/** A decoded attribute list, read by type (the last of a type wins, as in the kernel). */
export class Attrs {
  readonly list: readonly Attr[];
  #byType = new Map<number, Uint8Array>();

  constructor(list: Attr[]) {
    this.list = list;
    for (const a of list) this.#byType.set(a.type, a.value);
  }

  /** Decodes the attributes filling `buf`; a bad length throws. */
  static parse(buf: Uint8Array): Attrs {
    const list: Attr[] = [];
    const v = view(buf);
    let off = 0;
    while (off + RTA_HDR_LEN <= buf.length) {
      const len = v.getUint16(off, LE);
      const raw = v.getUint16(off + 2, LE);
      if (len < RTA_HDR_LEN || off + len > buf.length) {
        throw new NetlinkDecodeError(
          `Malformed attribute at byte ${off}: rta_len ${len}, ${buf.length - off} bytes left`,
        );
      }
      list.push({
        type: raw & NLA_TYPE_MASK,
        flags: raw & ~NLA_TYPE_MASK,
        value: buf.subarray(off + RTA_HDR_LEN, off + len),
      });
      off += align4(len);
    }
    return new Attrs(list);
  }

  has(type: number): boolean {
    return this.#byType.has(type);
  }

  /** The raw value, or undefined. */
  get(type: number): Uint8Array | undefined {
    return this.#byType.get(type);
  }

  u8(type: number): number | undefined {
    const b = this.get(type);
    return b && need(b, 1, `attribute ${type}`).getUint8(0);
  }

  u32(type: number): number | undefined {
    const b = this.get(type);
    return b && need(b, 4, `attribute ${type}`).getUint32(0, LE);
  }

  i32(type: number): number | undefined {
    const b = this.get(type);
    return b && need(b, 4, `attribute ${type}`).getInt32(0, LE);
  }

  /** A u32 in network byte order (nf_tables' numbers). */
  be32(type: number): number | undefined {
    const b = this.get(type);
    return b && need(b, 4, `attribute ${type}`).getUint32(0, false);
  }

  /** A u64 in network byte order (nf_tables' handles). */
  be64(type: number): bigint | undefined {
    const b = this.get(type);
    return b && need(b, 8, `attribute ${type}`).getBigUint64(0, false);
  }

  /** A string value without its trailing NUL. */
  string(type: number): string | undefined {
    const b = this.get(type);
    return b && decodeString(b);
  }

  /** The attributes nested in a value. */
  nested(type: number): Attrs | undefined {
    const b = this.get(type);
    return b && Attrs.parse(b);
  }
}

function decodeString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? b : b.subarray(0, nul));
}

// ---------------------------------------------------------------------------
// Messages of each family: header + attributes

/** A link message: its ifinfomsg and attributes. */
export interface LinkMessage {
  ifi: IfInfoMsg;
  attrs: Attrs;
}

/** Payload of a link message. */
export function linkPayload(ifi: Partial<IfInfoMsg>, ...attrs: Uint8Array[]): Uint8Array {
  return concat(encodeIfinfomsg(ifi), ...attrs);
}

/** Decodes the payload of RTM_NEWLINK (also the value of VETH_INFO_PEER). */
export function decodeLink(payload: Uint8Array): LinkMessage {
  return {
    ifi: decodeIfinfomsg(payload),
    attrs: Attrs.parse(payload.subarray(IFINFOMSG_LEN)),
  };
}

/** Decodes the payload of RTM_NEWADDR. */
export function decodeAddr(payload: Uint8Array): { ifa: IfAddrMsg; attrs: Attrs } {
  return {
    ifa: decodeIfaddrmsg(payload),
    attrs: Attrs.parse(payload.subarray(IFADDRMSG_LEN)),
  };
}

/** Decodes the payload of RTM_NEWROUTE. */
export function decodeRoute(payload: Uint8Array): { rtm: RtMsg; attrs: Attrs } {
  return { rtm: decodeRtmsg(payload), attrs: Attrs.parse(payload.subarray(RTMSG_LEN)) };
}

/** "aa:bb:cc:dd:ee:ff" of a hardware address. */
export function formatMac(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Dotted IPv4, RFC 5952 IPv6 (zeros compressed), or hex for other lengths. */
export function formatAddress(b: Uint8Array): string {
  if (b.length === 4) return [...b].join(".");
  if (b.length !== 16) return formatMac(b);
  const words = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

// ---------------------------------------------------------------------------
// Replies: acknowledgements, errors, multi-part dumps

/**
 * Collects the replies to one request from the datagrams received: a dump
 * ends with NLMSG_DONE, any other request with NLMSG_ERROR (error 0 is the
 * acknowledgement). Messages of other sequence numbers are left out.
 */
export class ReplyCollector {
  /** The data messages of the reply, in order. */
  readonly messages: NlMessage[] = [];
  /** The error that ended the reply, when it failed. */
  error?: NlError;
  /** Set when the kernel flagged the dump as inconsistent (NLM_F_DUMP_INTR): retry it. */
  interrupted = false;
  done = false;

  constructor(readonly seq: number, readonly dump: boolean) {}

  /** Takes one received datagram; returns true once the reply is complete. */
  feed(datagram: Uint8Array): boolean {
    for (const m of decodeMessages(datagram)) {
      if (this.done) break;
      if (m.seq !== this.seq) continue;
      if (m.flags & NLM_F.DUMP_INTR) this.interrupted = true;
      if (m.type === NLMSG.NOOP) continue;
      if (m.type === NLMSG.ERROR) {
        const e = decodeError(m.payload, m.flags);
        if (e.errno !== 0) this.error = e;
        this.done = true;
      } else if (m.type === NLMSG.DONE) {
        // A dump's DONE carries an int: 0, or -errno when the dump failed.
        const err = m.payload.length >= 4 ? view(m.payload).getInt32(0, LE) : 0;
        if (err < 0) {
          this.error = {
            errno: -err,
            request: { len: 0, type: 0, flags: 0, seq: m.seq, pid: m.pid },
          };
        }
        this.done = true;
      } else if (m.type === NLMSG.OVERRUN) {
        throw new NetlinkDecodeError("Netlink overrun: replies were lost");
      } else {
        this.messages.push(m);
      }
    }
    return this.done;
  }
}

/**
 * Collects the answers to a batch: several requests sent in one datagram (an
 * nfnetlink transaction), each acknowledged by its own NLMSG_ERROR (error 0).
 * Errors are kept by sequence number, also for a message that asked for no
 * acknowledgement: the kernel reports a failed commit on the batch's first
 * message, and a batch it gave up on (ENOMEM) with a single error.
 */
export class BatchCollector {
  /** The errors received, by the sequence number of the message they answer. */
  readonly errors = new Map<number, NlError>();
  readonly #waiting: Set<number>;

  /** `acked`: the sequence numbers of the messages sent with NLM_F_ACK. */
  constructor(acked: readonly number[]) {
    this.#waiting = new Set(acked);
  }

  /** Whether every acknowledged message has its answer. */
  get done(): boolean {
    return this.#waiting.size === 0;
  }

  /** Takes one received datagram; returns true once every acknowledged message has its answer. */
  feed(datagram: Uint8Array): boolean {
    for (const m of decodeMessages(datagram)) {
      if (m.type === NLMSG.OVERRUN) {
        throw new NetlinkDecodeError("Netlink overrun: replies were lost");
      }
      if (m.type !== NLMSG.ERROR) continue;
      const e = decodeError(m.payload, m.flags);
      if (e.errno !== 0 && !this.errors.has(m.seq)) this.errors.set(m.seq, e);
      this.#waiting.delete(m.seq);
    }
    return this.done;
  }
}

// ---------------------------------------------------------------------------
// Readable output

type Kind = "u8" | "u32" | "i32" | "string" | "mac" | "addr" | "bytes" | "info_data" | "ifinfo";
interface Space {
  prefix: string;
  names: Record<string, number>;
  kinds: Record<string, Kind | Space>;
}

/** A kinds table from lists of names per kind: { u32: ["MTU"] } → { MTU: "u32" }. */
function kinds(groups: Partial<Record<Kind, string[]>>): Record<string, Kind> {
  return Object.fromEntries(
    Object.entries(groups).flatMap(([kind, names]) => names.map((n) => [n, kind as Kind])),
  );
}

const LINKINFO_SPACE: Space = {
  prefix: "IFLA_INFO_",
  names: IFLA_INFO,
  kinds: { KIND: "string", SLAVE_KIND: "string", DATA: "info_data" },
};
const VETH_SPACE: Space = { prefix: "VETH_INFO_", names: VETH_INFO, kinds: { PEER: "ifinfo" } };
const LINK_SPACE: Space = {
  prefix: "IFLA_",
  names: IFLA,
  kinds: {
    LINKINFO: LINKINFO_SPACE,
    ...kinds({
      mac: ["ADDRESS", "BROADCAST", "PERM_ADDRESS"],
      string: [
        "IFNAME",
        "ALT_IFNAME",
        "IFALIAS",
        "QDISC",
        "PARENT_DEV_NAME",
        "PARENT_DEV_BUS_NAME",
      ],
      u8: ["OPERSTATE", "LINKMODE", "CARRIER", "PROTO_DOWN"],
      i32: ["NEW_IFINDEX", "LINK_NETNSID", "TARGET_NETNSID", "NEW_NETNSID"],
      u32: [
        ...["MTU", "MIN_MTU", "MAX_MTU", "LINK", "MASTER", "TXQLEN", "NET_NS_PID", "NET_NS_FD"],
        ...["EXT_MASK", "GROUP", "PROMISCUITY", "ALLMULTI", "NUM_TX_QUEUES", "NUM_RX_QUEUES"],
        ...["CARRIER_CHANGES", "CARRIER_UP_COUNT", "CARRIER_DOWN_COUNT", "GSO_MAX_SEGS"],
        ...["GSO_MAX_SIZE", "GRO_MAX_SIZE", "TSO_MAX_SIZE", "TSO_MAX_SEGS"],
      ],
    }),
  },
};
const ADDR_SPACE: Space = {
  prefix: "IFA_",
  names: IFA,
  kinds: kinds({
    addr: ["ADDRESS", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST"],
    string: ["LABEL"],
    u32: ["FLAGS", "RT_PRIORITY"],
    u8: ["PROTO"],
  }),
};
const ROUTE_SPACE: Space = {
  prefix: "RTA_",
  names: RTA,
  kinds: kinds({
    addr: ["DST", "SRC", "GATEWAY", "PREFSRC"],
    u32: ["IIF", "OIF", "PRIORITY", "TABLE", "MARK"],
    u8: ["PREF"],
  }),
};

function hex(b: Uint8Array): string {
  const s = [...b.subarray(0, 32)].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `0x${s}${b.length > 32 ? `...(${b.length} bytes)` : ""}`;
}

function formatValue(kind: Kind | Space, value: Uint8Array, siblings: Attrs): string {
  if (typeof kind === "object") return `{${formatAttrs(Attrs.parse(value), kind)}}`;
  const a = new Attrs([{ type: 0, flags: 0, value }]);
  switch (kind) {
    case "u8":
    case "u32":
    case "i32":
      return value.length >= (kind === "u8" ? 1 : 4) ? String(a[kind](0)) : hex(value);
    case "string":
      return JSON.stringify(decodeString(value));
    case "mac":
      return formatMac(value);
    case "addr":
      return formatAddress(value);
    case "info_data":
      return siblings.string(IFLA_INFO.KIND) === "veth"
        ? `{${formatAttrs(Attrs.parse(value), VETH_SPACE)}}`
        : hex(value);
    case "ifinfo":
      return `{${formatLinkPayload(value)}}`;
    default:
      return hex(value);
  }
}

function formatAttrs(attrs: Attrs, space: Space): string {
  return attrs.list.map((a) => {
    const name = nameOf(space.names, a.type, space.prefix);
    const kind = space.kinds[name.slice(space.prefix.length)] ?? "bytes";
    const v = formatValue(kind, a.value, attrs);
    return typeof kind === "object" || v.startsWith("{") ? `${name}${v}` : `${name}=${v}`;
  }).join(" ");
}

function formatLinkPayload(p: Uint8Array): string {
  const { ifi, attrs } = decodeLink(p);
  const head = `ifinfomsg{family=${nameOf(AF, ifi.family, "AF_")} type=${ifi.type} ` +
    `index=${ifi.index} flags=${flagText(ifi.flags)} change=${flagText(ifi.change)}}`;
  const rest = formatAttrs(attrs, LINK_SPACE);
  return rest ? `${head} ${rest}` : head;
}

function flagText(v: number): string {
  if (v === 0) return "0";
  if (v === 0xffffffff) return "0xffffffff";
  const parts = Object.entries(IFF).filter(([, b]) => (v & b) === b).map(([k]) => "IFF_" + k);
  const rest = Object.values(IFF).reduce((r, b) => r & ~b, v) >>> 0;
  if (rest) parts.push("0x" + rest.toString(16));
  return parts.join("|");
}

/**
 * One message as text, with names for every type, flag and attribute:
 * `RTM_NEWLINK NLM_F_REQUEST|NLM_F_ACK seq=1 ifinfomsg{...} IFLA_IFNAME="veth0"`.
 */
export function formatMessage(m: NlMessage): string {
  const type = m.type < 16 ? nameOf(NLMSG, m.type, "NLMSG_") : nameOf(RTM, m.type, "RTM_");
  const head = `${type} ${nlmFlagNames(m.type, m.flags)} seq=${m.seq} pid=${m.pid}`;
  let body: string;
  try {
    body = formatBody(m);
  } catch (e) {
    body = `${hex(m.payload)} (${(e as Error).message})`;
  }
  return body ? `${head} ${body}` : head;
}

function formatBody(m: NlMessage): string {
  if (m.type === NLMSG.ERROR) {
    const e = decodeError(m.payload, m.flags);
    const what = e.errno === 0 ? "ack" : `error=${errnoLabel(e.errno)}`;
    return `${what} request=${nameOf(RTM, e.request.type, "RTM_")}` +
      (e.message ? ` msg=${JSON.stringify(e.message)}` : "");
  }
  if (m.type === NLMSG.DONE || m.type === NLMSG.NOOP) return "";
  const group = (m.type - 16) >> 2; // 0 link, 1 address, 2 route
  if (m.type >= 16 && group === 0) return formatLinkPayload(m.payload);
  if (group === 1) {
    const { ifa, attrs } = decodeAddr(m.payload);
    return `ifaddrmsg{family=${nameOf(AF, ifa.family, "AF_")} prefixlen=${ifa.prefixLen} ` +
      `flags=${ifa.flags} scope=${nameOf(RT_SCOPE, ifa.scope, "RT_SCOPE_")} ` +
      `index=${ifa.index}} ${formatAttrs(attrs, ADDR_SPACE)}`.trimEnd();
  }
  if (group === 2) {
    const { rtm, attrs } = decodeRoute(m.payload);
    return `rtmsg{family=${nameOf(AF, rtm.family, "AF_")} dst_len=${rtm.dstLen} ` +
      `table=${nameOf(RT_TABLE, rtm.table, "RT_TABLE_")} ` +
      `protocol=${nameOf(RTPROT, rtm.protocol, "RTPROT_")} ` +
      `scope=${nameOf(RT_SCOPE, rtm.scope, "RT_SCOPE_")} type=${nameOf(RTN, rtm.type, "RTN_")}} ` +
      formatAttrs(attrs, ROUTE_SPACE);
  }
  return hex(m.payload);
}
