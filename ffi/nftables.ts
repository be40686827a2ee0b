/**
 * nf_tables messages as bytes (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_NFTABLES):
 * the nfgenmsg header, the batch markers of a transaction, tables, chains,
 * rules with their expressions and comment, anonymous sets and their
 * elements, and the decoders for what a dump returns. A pure codec on top of
 * netlink.ts's messages and attributes: no I/O.
 *
 * nf_tables takes every number attribute (registers, keys, lengths, handles)
 * in network byte order; the data an expression compares or loads is raw
 * bytes in the order the packet or the kernel's field has it. Every nested
 * attribute carries NLA_F_NESTED, as libnftnl sends it (the kernel's own
 * replies do not set it; decoding ignores it).
 *
 * The constants are quoted from linux/netfilter/nfnetlink.h,
 * linux/netfilter/nf_tables.h, linux/netfilter.h and linux/netfilter/nf_nat.h;
 * the byte layouts follow what nft 1.0 (libnftnl) sends, recorded in
 * tests/unit/nftables.test.ts.
 * @module
 */

import {
  Attrs,
  nameOf,
  NetlinkDecodeError,
  NLA_F,
  NLM_F_GET,
  NLM_F_NEW,
  rta,
  rtaBe32,
  rtaBe64,
  rtaString,
} from "./netlink.ts";
import { concat } from "./bytes.ts";

// ---------------------------------------------------------------------------
// nfnetlink (linux/netfilter/nfnetlink.h)

/** The nfnetlink subsystem of nf_tables: the high byte of its message types. */
export const NFNL_SUBSYS_NFTABLES = 10;
/** The markers around a transaction: NLMSG_MIN_TYPE (0x10) and the one after. */
export const NFNL_MSG = { BATCH_BEGIN: 0x10, BATCH_END: 0x11 } as const;
/** The only nfnetlink version. */
export const NFNETLINK_V0 = 0;

/** Netfilter families (linux/netfilter.h NFPROTO_*), nft's `ip`, `ip6`, `inet`... */
export const NFPROTO = {
  UNSPEC: 0,
  INET: 1,
  IPV4: 2,
  ARP: 3,
  NETDEV: 5,
  BRIDGE: 7,
  IPV6: 10,
} as const;

/** Netfilter hooks of the ip, ip6 and inet families (enum nf_inet_hooks). */
export const NF_INET_HOOK = {
  PRE_ROUTING: 0,
  LOCAL_IN: 1,
  FORWARD: 2,
  LOCAL_OUT: 3,
  POST_ROUTING: 4,
} as const;

/** Verdicts: netfilter's own (NF_DROP, NF_ACCEPT) and nf_tables' (enum nft_verdicts). */
export const NF_VERDICT = {
  DROP: 0,
  ACCEPT: 1,
  CONTINUE: -1,
  BREAK: -2,
  JUMP: -3,
  GOTO: -4,
  RETURN: -5,
} as const;

// ---------------------------------------------------------------------------
// nf_tables (linux/netfilter/nf_tables.h)

/** Message types of nf_tables (enum nf_tables_msg_types), the low byte of nlmsg_type. */
export const NFT_MSG = {
  NEWTABLE: 0,
  GETTABLE: 1,
  DELTABLE: 2,
  NEWCHAIN: 3,
  GETCHAIN: 4,
  DELCHAIN: 5,
  NEWRULE: 6,
  GETRULE: 7,
  DELRULE: 8,
  NEWSET: 9,
  GETSET: 10,
  DELSET: 11,
  NEWSETELEM: 12,
  GETSETELEM: 13,
  DELSETELEM: 14,
  NEWGEN: 15,
  GETGEN: 16,
} as const;

/** The nlmsg_type of an nf_tables message: subsystem in the high byte. */
export function nftType(msg: number): number {
  return (NFNL_SUBSYS_NFTABLES << 8) | msg;
}

/** Registers (enum nft_registers): 0 holds the verdict; 1-4 are 16 bytes each. */
export const NFT_REG = { VERDICT: 0, R1: 1, R2: 2, R3: 3, R4: 4 } as const;

/** Table flags (enum nft_table_flags): a dormant table's chains are attached to no hook. */
export const NFT_TABLE_F = { DORMANT: 0x1 } as const;
/** Table attributes (enum nft_table_attributes). */
export const NFTA_TABLE = { NAME: 1, FLAGS: 2, USE: 3, HANDLE: 4, USERDATA: 6, OWNER: 7 } as const;
/** Chain attributes (enum nft_chain_attributes). */
export const NFTA_CHAIN = {
  TABLE: 1,
  HANDLE: 2,
  NAME: 3,
  HOOK: 4,
  POLICY: 5,
  USE: 6,
  TYPE: 7,
  COUNTERS: 8,
  FLAGS: 10,
  ID: 11,
  USERDATA: 12,
} as const;
/** Attributes nested in NFTA_CHAIN_HOOK (enum nft_hook_attributes). */
export const NFTA_HOOK = { HOOKNUM: 1, PRIORITY: 2, DEV: 3 } as const;
/** Rule attributes (enum nft_rule_attributes). */
export const NFTA_RULE = {
  TABLE: 1,
  CHAIN: 2,
  HANDLE: 3,
  EXPRESSIONS: 4,
  POSITION: 6,
  USERDATA: 7,
  ID: 9,
} as const;
/** The element of a nested list (enum nft_list_attributes). */
export const NFTA_LIST = { ELEM: 1 } as const;
/** An expression: its name and its own attributes (enum nft_expr_attributes). */
export const NFTA_EXPR = { NAME: 1, DATA: 2 } as const;
/** Data: a value or a verdict (enum nft_data_attributes). */
export const NFTA_DATA = { VALUE: 1, VERDICT: 2 } as const;
/** A verdict: its code and, for jump and goto, the chain (enum nft_verdict_attributes). */
export const NFTA_VERDICT = { CODE: 1, CHAIN: 2 } as const;

/** Set attributes (enum nft_set_attributes). */
export const NFTA_SET = {
  TABLE: 1,
  NAME: 2,
  FLAGS: 3,
  KEY_TYPE: 4,
  KEY_LEN: 5,
  DATA_TYPE: 6,
  DATA_LEN: 7,
  POLICY: 8,
  DESC: 9,
  ID: 10,
  USERDATA: 13,
} as const;
/** Attributes nested in NFTA_SET_DESC. */
export const NFTA_SET_DESC = { SIZE: 1 } as const;
/** Set flags (enum nft_set_flags). */
export const NFT_SET_F = {
  ANONYMOUS: 0x1,
  CONSTANT: 0x2,
  INTERVAL: 0x4,
  MAP: 0x8,
  TIMEOUT: 0x10,
} as const;
/** Attributes of NEWSETELEM (enum nft_set_elem_list_attributes). */
export const NFTA_SET_ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3, SET_ID: 4 } as const;
/** Attributes of one element (enum nft_set_elem_attributes). */
export const NFTA_SET_ELEM = { KEY: 1, DATA: 2, FLAGS: 3 } as const;

/** immediate: load data (or a verdict) into a register (enum nft_immediate_attributes). */
export const NFTA_IMMEDIATE = { DREG: 1, DATA: 2 } as const;
/** cmp: compare a register with data (enum nft_cmp_attributes). */
export const NFTA_CMP = { SREG: 1, OP: 2, DATA: 3 } as const;
/** bitwise: (reg & mask) ^ xor (enum nft_bitwise_attributes). */
export const NFTA_BITWISE = { SREG: 1, DREG: 2, LEN: 3, MASK: 4, XOR: 5, OP: 6 } as const;
/** payload: load bytes of a header (enum nft_payload_attributes). */
export const NFTA_PAYLOAD = { DREG: 1, BASE: 2, OFFSET: 3, LEN: 4 } as const;
/** meta: load a packet's metadata (enum nft_meta_attributes). */
export const NFTA_META = { DREG: 1, KEY: 2, SREG: 3 } as const;
/** ct: load a conntrack field (enum nft_ct_attributes). */
export const NFTA_CT = { DREG: 1, KEY: 2, DIRECTION: 3, SREG: 4 } as const;
/** fib: a routing lookup's result (enum nft_fib_attributes). */
export const NFTA_FIB = { DREG: 1, RESULT: 2, FLAGS: 3 } as const;
/** lookup: whether a register is in a set (enum nft_lookup_attributes). */
export const NFTA_LOOKUP = { SET: 1, SREG: 2, DREG: 3, SET_ID: 4, FLAGS: 5 } as const;
/** nat: snat or dnat to the address and port in registers (enum nft_nat_attributes). */
export const NFTA_NAT = {
  TYPE: 1,
  FAMILY: 2,
  REG_ADDR_MIN: 3,
  REG_ADDR_MAX: 4,
  REG_PROTO_MIN: 5,
  REG_PROTO_MAX: 6,
  FLAGS: 7,
} as const;
/** masq: source NAT to the outgoing interface's address (enum nft_masq_attributes). */
export const NFTA_MASQ = { FLAGS: 1, REG_PROTO_MIN: 2, REG_PROTO_MAX: 3 } as const;
/** counter: packets and bytes (enum nft_counter_attributes). */
export const NFTA_COUNTER = { BYTES: 1, PACKETS: 2 } as const;

/** cmp operators (enum nft_cmp_ops). */
export const NFT_CMP = { EQ: 0, NEQ: 1, LT: 2, LTE: 3, GT: 4, GTE: 5 } as const;
/** Where a payload offset counts from (enum nft_payload_bases). */
export const NFT_PAYLOAD = { LL_HEADER: 0, NETWORK_HEADER: 1, TRANSPORT_HEADER: 2 } as const;
/** meta keys (enum nft_meta_keys), those ctr's rules and listings meet. */
export const NFT_META = {
  LEN: 0,
  PROTOCOL: 1,
  PRIORITY: 2,
  MARK: 3,
  IIF: 4,
  OIF: 5,
  IIFNAME: 6,
  OIFNAME: 7,
  IIFTYPE: 8,
  OIFTYPE: 9,
  SKUID: 10,
  SKGID: 11,
  NFPROTO: 15,
  L4PROTO: 16,
} as const;
/** ct keys (enum nft_ct_keys). */
export const NFT_CT = { STATE: 0, DIRECTION: 1, STATUS: 2, MARK: 3 } as const;
/** fib results (enum nft_fib_result). */
export const NFT_FIB_RESULT = { OIF: 1, OIFNAME: 2, ADDRTYPE: 3 } as const;
/** What a fib lookup starts from (enum nft_fib_flags). */
export const NFTA_FIB_F = { SADDR: 1, DADDR: 2, MARK: 4, IIF: 8, OIF: 16, PRESENT: 32 } as const;
/** NAT types (enum nft_nat_types). */
export const NFT_NAT = { SNAT: 0, DNAT: 1 } as const;
/** NAT range flags (linux/netfilter/nf_nat.h NF_NAT_RANGE_*). */
export const NF_NAT_RANGE = {
  MAP_IPS: 1,
  PROTO_SPECIFIED: 2,
  PROTO_RANDOM: 4,
  PERSISTENT: 8,
  PROTO_RANDOM_FULLY: 16,
} as const;
/** lookup flags (enum nft_lookup_flags): match what is not in the set. */
export const NFT_LOOKUP_F = { INV: 1 } as const;

/** The userdata TLV types of a rule (libnftnl's NFTNL_UDATA_RULE_*): nft keeps comments there. */
export const NFTNL_UDATA_RULE = { COMMENT: 0 } as const;
/** The userdata TLV types of a set (libnftnl's NFTNL_UDATA_SET_*). */
export const NFTNL_UDATA_SET = { KEYBYTEORDER: 0, KEY_TYPEOF: 3 } as const;
/** The TLVs nested in NFTNL_UDATA_SET_KEY_TYPEOF: nft's expression type and its own data. */
export const NFTNL_UDATA_SET_TYPEOF = { EXPR: 0, DATA: 1 } as const;

// ---------------------------------------------------------------------------
// struct nfgenmsg

/**
 * struct nfgenmsg (linux/netfilter/nfnetlink.h), 4 bytes, heads every
 * nfnetlink message:
 *
 * | offset | size | field        | meaning                                        |
 * | ------ | ---- | ------------ | ---------------------------------------------- |
 * | 0      | 1    | nfgen_family | NFPROTO_* (AF_UNSPEC for the batch markers)    |
 * | 1      | 1    | version      | NFNETLINK_V0                                   |
 * | 2      | 2    | res_id       | big-endian: the subsystem in a batch's markers, |
 * |        |      |              | the ruleset generation in replies              |
 */
export interface NfGenMsg {
  family: number;
  version: number;
  resId: number;
}
/** sizeof(struct nfgenmsg). */
export const NFGENMSG_LEN = 4;

/** Encodes an nfgenmsg. */
export function encodeNfgenmsg(family: number, resId = 0): Uint8Array {
  return Uint8Array.of(family, NFNETLINK_V0, (resId >> 8) & 0xff, resId & 0xff);
}

/** Decodes the nfgenmsg at the start of a payload. */
export function decodeNfgenmsg(b: Uint8Array): NfGenMsg {
  if (b.length < NFGENMSG_LEN) {
    throw new NetlinkDecodeError(`Malformed nfgenmsg: ${b.length} bytes, expected ${NFGENMSG_LEN}`);
  }
  return { family: b[0], version: b[1], resId: (b[2] << 8) | b[3] };
}

// ---------------------------------------------------------------------------
// Attributes as nf_tables takes them

/** A nested attribute with NLA_F_NESTED set, as libnftnl sends every nest. */
export function nest(type: number, ...children: Uint8Array[]): Uint8Array {
  return rta(type | NLA_F.NESTED, concat(...children));
}

/** NFTA_DATA_VALUE wrapped in the data attribute `type` (cmp, immediate, bitwise, set keys). */
function dataValue(type: number, value: Uint8Array): Uint8Array {
  return nest(type, rta(NFTA_DATA.VALUE, value));
}

// ---------------------------------------------------------------------------
// Expressions

/** A verdict: NF_VERDICT code, and the target chain of jump and goto. */
export interface Verdict {
  readonly code: number;
  readonly chain?: string;
}

/**
 * One expression of a rule, with the fields of its attributes. Registers are
 * NFT_REG numbers; `data`, `mask` and `xor` are raw bytes as the kernel
 * compares them.
 */
export type Expr =
  | { readonly type: "meta"; readonly key: number; readonly dreg: number }
  | { readonly type: "cmp"; readonly sreg: number; readonly op: number; readonly data: Uint8Array }
  | {
    readonly type: "payload";
    readonly base: number;
    readonly offset: number;
    readonly len: number;
    readonly dreg: number;
  }
  | {
    readonly type: "bitwise";
    readonly sreg: number;
    readonly dreg: number;
    readonly mask: Uint8Array;
    readonly xor: Uint8Array;
  }
  | { readonly type: "fib"; readonly flags: number; readonly result: number; readonly dreg: number }
  | { readonly type: "ct"; readonly key: number; readonly dreg: number }
  | { readonly type: "immediate"; readonly dreg: number; readonly data: Uint8Array }
  | { readonly type: "immediate"; readonly dreg: 0; readonly verdict: Verdict }
  | {
    readonly type: "nat";
    readonly nat: number;
    readonly family: number;
    readonly regAddrMin?: number;
    readonly regProtoMin?: number;
    readonly flags?: number;
  }
  | { readonly type: "masq"; readonly flags?: number }
  | {
    readonly type: "lookup";
    readonly sreg: number;
    readonly set: string;
    readonly setId?: number;
    readonly flags?: number;
  }
  | { readonly type: "counter"; readonly bytes?: bigint; readonly packets?: bigint }
  /** An expression this codec does not decode: its name and raw attributes. */
  | { readonly type: "other"; readonly name: string; readonly data: Uint8Array };

/** The attributes of an expression's NFTA_EXPR_DATA, in the order libnftnl writes them. */
function exprData(e: Expr): Uint8Array[] {
  const u = rtaBe32;
  switch (e.type) {
    case "meta":
      return [u(NFTA_META.KEY, e.key), u(NFTA_META.DREG, e.dreg)];
    case "cmp":
      return [
        u(NFTA_CMP.SREG, e.sreg),
        u(NFTA_CMP.OP, e.op),
        dataValue(NFTA_CMP.DATA, e.data),
      ];
    case "payload":
      return [
        u(NFTA_PAYLOAD.DREG, e.dreg),
        u(NFTA_PAYLOAD.BASE, e.base),
        u(NFTA_PAYLOAD.OFFSET, e.offset),
        u(NFTA_PAYLOAD.LEN, e.len),
      ];
    case "bitwise":
      if (e.mask.length !== e.xor.length) {
        throw new RangeError(`bitwise: mask of ${e.mask.length} bytes, xor of ${e.xor.length}`);
      }
      return [
        u(NFTA_BITWISE.SREG, e.sreg),
        u(NFTA_BITWISE.DREG, e.dreg),
        u(NFTA_BITWISE.LEN, e.mask.length),
        dataValue(NFTA_BITWISE.MASK, e.mask),
        dataValue(NFTA_BITWISE.XOR, e.xor),
      ];
    case "fib":
      return [u(NFTA_FIB.FLAGS, e.flags), u(NFTA_FIB.RESULT, e.result), u(NFTA_FIB.DREG, e.dreg)];
    case "ct":
      return [u(NFTA_CT.KEY, e.key), u(NFTA_CT.DREG, e.dreg)];
    case "immediate": {
      const data = "verdict" in e
        ? nest(
          NFTA_IMMEDIATE.DATA,
          nest(
            NFTA_DATA.VERDICT,
            u(NFTA_VERDICT.CODE, e.verdict.code),
            ...(e.verdict.chain === undefined
              ? []
              : [rtaString(NFTA_VERDICT.CHAIN, e.verdict.chain)]),
          ),
        )
        : dataValue(NFTA_IMMEDIATE.DATA, e.data);
      return [u(NFTA_IMMEDIATE.DREG, e.dreg), data];
    }
    case "nat":
      return [
        u(NFTA_NAT.TYPE, e.nat),
        u(NFTA_NAT.FAMILY, e.family),
        ...(e.regAddrMin === undefined ? [] : [u(NFTA_NAT.REG_ADDR_MIN, e.regAddrMin)]),
        ...(e.regProtoMin === undefined ? [] : [u(NFTA_NAT.REG_PROTO_MIN, e.regProtoMin)]),
        ...(e.flags === undefined ? [] : [u(NFTA_NAT.FLAGS, e.flags)]),
      ];
    case "masq":
      return e.flags === undefined ? [] : [u(NFTA_MASQ.FLAGS, e.flags)];
    case "lookup":
      return [
        u(NFTA_LOOKUP.SREG, e.sreg),
        rtaString(NFTA_LOOKUP.SET, e.set),
        ...(e.setId === undefined ? [] : [u(NFTA_LOOKUP.SET_ID, e.setId)]),
        ...(e.flags === undefined ? [] : [u(NFTA_LOOKUP.FLAGS, e.flags)]),
      ];
    case "counter":
      return [
        ...(e.bytes === undefined ? [] : [rtaBe64(NFTA_COUNTER.BYTES, e.bytes)]),
        ...(e.packets === undefined ? [] : [rtaBe64(NFTA_COUNTER.PACKETS, e.packets)]),
      ];
    case "other":
      return [e.data];
  }
}

/** One expression as an element of NFTA_RULE_EXPRESSIONS: its name, then its data. */
export function encodeExpr(e: Expr): Uint8Array {
  const name = e.type === "other" ? e.name : e.type;
  return nest(
    NFTA_LIST.ELEM,
    rtaString(NFTA_EXPR.NAME, name),
    nest(NFTA_EXPR.DATA, ...exprData(e)),
  );
}

function value(a: Attrs | undefined, type: number): Uint8Array {
  const v = a?.nested(type)?.get(NFTA_DATA.VALUE);
  if (!v) {
    throw new NetlinkDecodeError(`Malformed expression: data attribute ${type} holds no value`);
  }
  return v.slice();
}

function must(a: Attrs, type: number, what: string): number {
  const v = a.be32(type);
  if (v === undefined) {
    throw new NetlinkDecodeError(`Malformed ${what} expression: attribute ${type} missing`);
  }
  return v;
}

/**
 * Decodes one NFTA_LIST_ELEM of NFTA_RULE_EXPRESSIONS. An expression of
 * another kind, or one of these in a form ctr never writes (`meta mark set`:
 * a source register, no destination), comes back as "other": a dump of a
 * table someone else added to must still list every rule.
 */
export function decodeExpr(elem: Uint8Array): Expr {
  const outer = Attrs.parse(elem);
  const name = outer.string(NFTA_EXPR.NAME) ?? "";
  const raw = outer.get(NFTA_EXPR.DATA) ?? new Uint8Array(0);
  try {
    return decodeKnownExpr(name, Attrs.parse(raw)) ?? { type: "other", name, data: raw.slice() };
  } catch (e) {
    if (e instanceof NetlinkDecodeError) return { type: "other", name, data: raw.slice() };
    throw e;
  }
}

function decodeKnownExpr(name: string, a: Attrs): Expr | undefined {
  const m = (type: number) => must(a, type, name);
  const opt = (type: number) => a.be32(type);
  switch (name) {
    case "meta":
      return { type: "meta", key: m(NFTA_META.KEY), dreg: m(NFTA_META.DREG) };
    case "cmp":
      return {
        type: "cmp",
        sreg: m(NFTA_CMP.SREG),
        op: m(NFTA_CMP.OP),
        data: value(a, NFTA_CMP.DATA),
      };
    case "payload":
      return {
        type: "payload",
        base: m(NFTA_PAYLOAD.BASE),
        offset: m(NFTA_PAYLOAD.OFFSET),
        len: m(NFTA_PAYLOAD.LEN),
        dreg: m(NFTA_PAYLOAD.DREG),
      };
    case "bitwise":
      return {
        type: "bitwise",
        sreg: m(NFTA_BITWISE.SREG),
        dreg: m(NFTA_BITWISE.DREG),
        mask: value(a, NFTA_BITWISE.MASK),
        xor: value(a, NFTA_BITWISE.XOR),
      };
    case "fib":
      return {
        type: "fib",
        flags: m(NFTA_FIB.FLAGS),
        result: m(NFTA_FIB.RESULT),
        dreg: m(NFTA_FIB.DREG),
      };
    case "ct":
      return { type: "ct", key: m(NFTA_CT.KEY), dreg: m(NFTA_CT.DREG) };
    case "immediate": {
      const data = a.nested(NFTA_IMMEDIATE.DATA);
      const verdict = data?.nested(NFTA_DATA.VERDICT);
      if (verdict) {
        const code = must(verdict, NFTA_VERDICT.CODE, "verdict") | 0;
        const chain = verdict.string(NFTA_VERDICT.CHAIN);
        return {
          type: "immediate",
          dreg: 0,
          verdict: chain === undefined ? { code } : { code, chain },
        };
      }
      return {
        type: "immediate",
        dreg: m(NFTA_IMMEDIATE.DREG),
        data: value(a, NFTA_IMMEDIATE.DATA),
      };
    }
    case "nat":
      return {
        type: "nat",
        nat: m(NFTA_NAT.TYPE),
        family: m(NFTA_NAT.FAMILY),
        regAddrMin: opt(NFTA_NAT.REG_ADDR_MIN),
        regProtoMin: opt(NFTA_NAT.REG_PROTO_MIN),
        flags: opt(NFTA_NAT.FLAGS),
      };
    case "masq":
      return { type: "masq", flags: opt(NFTA_MASQ.FLAGS) };
    case "lookup":
      return {
        type: "lookup",
        sreg: m(NFTA_LOOKUP.SREG),
        set: a.string(NFTA_LOOKUP.SET) ?? "",
        setId: opt(NFTA_LOOKUP.SET_ID),
        flags: opt(NFTA_LOOKUP.FLAGS),
      };
    case "counter":
      return {
        type: "counter",
        bytes: a.be64(NFTA_COUNTER.BYTES),
        packets: a.be64(NFTA_COUNTER.PACKETS),
      };
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------
// Readable expressions, in the words of `nft --debug=netlink` (libnftnl)

const META_NAMES: Record<number, string> = {
  [NFT_META.IIFNAME]: "iifname",
  [NFT_META.OIFNAME]: "oifname",
  [NFT_META.NFPROTO]: "nfproto",
  [NFT_META.L4PROTO]: "l4proto",
  [NFT_META.MARK]: "mark",
  [NFT_META.IIF]: "iif",
  [NFT_META.OIF]: "oif",
  [NFT_META.LEN]: "len",
  [NFT_META.PROTOCOL]: "protocol",
};
const CT_NAMES: Record<number, string> = { 0: "state", 1: "direction", 2: "status", 3: "mark" };
const BASE_NAMES = ["link layer", "network", "transport"];
const CMP_NAMES = ["eq", "neq", "lt", "lte", "gt", "gte"];
const FIB_RESULTS: Record<number, string> = { 1: "oif", 2: "oifname", 3: "type" };
const VERDICT_NAMES: Record<number, string> = {
  0: "drop",
  1: "accept",
  [-1]: "continue",
  [-2]: "break",
  [-3]: "jump",
  [-4]: "goto",
  [-5]: "return",
};

/** Bytes as libnftnl prints them: 32-bit words read in host order, zero-filled. */
export function formatWords(b: Uint8Array): string {
  const words: string[] = [];
  for (let i = 0; i < b.length; i += 4) {
    const w =
      (b[i] | ((b[i + 1] ?? 0) << 8) | ((b[i + 2] ?? 0) << 16) | ((b[i + 3] ?? 0) << 24)) >>>
      0;
    words.push("0x" + w.toString(16).padStart(8, "0"));
  }
  return words.join(" ");
}

function formatVerdict(v: Verdict): string {
  const name = VERDICT_NAMES[v.code] ?? `verdict ${v.code}`;
  return v.chain === undefined ? name : `${name} -> ${v.chain}`;
}

/** One expression as `nft --debug=netlink` prints it: `[ meta load iifname => reg 1 ]`. */
export function formatExpr(e: Expr): string {
  const body = ((): string => {
    switch (e.type) {
      case "meta":
        return `meta load ${META_NAMES[e.key] ?? `key ${e.key}`} => reg ${e.dreg}`;
      case "cmp":
        return `cmp ${CMP_NAMES[e.op] ?? e.op} reg ${e.sreg} ${formatWords(e.data)}`;
      case "payload":
        return `payload load ${e.len}b @ ${
          BASE_NAMES[e.base] ?? e.base
        } header + ${e.offset} => reg ${e.dreg}`;
      case "bitwise":
        return `bitwise reg ${e.dreg} = ( reg ${e.sreg} & ${formatWords(e.mask)} ) ^ ${
          formatWords(e.xor)
        }`;
      case "fib": {
        const on = [
          ...(e.flags & NFTA_FIB_F.SADDR ? ["saddr"] : []),
          ...(e.flags & NFTA_FIB_F.DADDR ? ["daddr"] : []),
          ...(e.flags & NFTA_FIB_F.IIF ? ["iif"] : []),
          ...(e.flags & NFTA_FIB_F.OIF ? ["oif"] : []),
        ];
        return `fib ${on.join(" . ")} ${FIB_RESULTS[e.result] ?? e.result} => reg ${e.dreg}`;
      }
      case "ct":
        return `ct load ${CT_NAMES[e.key] ?? `key ${e.key}`} => reg ${e.dreg}`;
      case "immediate":
        return "verdict" in e
          ? `immediate reg ${e.dreg} ${formatVerdict(e.verdict)}`
          : `immediate reg ${e.dreg} ${formatWords(e.data)}`;
      case "nat": {
        const fam = e.family === NFPROTO.IPV4 ? "ip" : e.family === NFPROTO.IPV6 ? "ip6" : e.family;
        return [
          `nat ${e.nat === NFT_NAT.DNAT ? "dnat" : "snat"} ${fam}`,
          ...(e.regAddrMin === undefined ? [] : [`addr_min reg ${e.regAddrMin}`]),
          ...(e.regProtoMin === undefined ? [] : [`proto_min reg ${e.regProtoMin}`]),
          ...(e.flags ? [`flags 0x${e.flags.toString(16)}`] : []),
        ].join(" ");
      }
      case "masq":
        return e.flags ? `masq flags 0x${e.flags.toString(16)}` : "masq";
      case "lookup":
        return `lookup reg ${e.sreg} set ${e.set}${e.flags ? ` 0x${e.flags.toString(16)}` : ""}`;
      case "counter":
        return `counter pkts ${e.packets ?? 0n} bytes ${e.bytes ?? 0n}`;
      case "other":
        return `${e.name} (${e.data.length} bytes)`;
    }
  })();
  return `[ ${body} ]`;
}

// ---------------------------------------------------------------------------
// Rule userdata: nft's comment

/**
 * The comment as nft stores it in NFTA_RULE_USERDATA: a TLV of libnftnl's
 * udata format, `{ u8 type = NFTNL_UDATA_RULE_COMMENT, u8 len, char value[len] }`
 * with the NUL counted, so that `nft list` shows `comment "..."`.
 */
export function commentUserdata(comment: string): Uint8Array {
  const text = new TextEncoder().encode(comment + "\0");
  if (text.length > 128) throw new RangeError(`Rule comment too long: ${text.length - 1} bytes`);
  return Uint8Array.of(NFTNL_UDATA_RULE.COMMENT, text.length, ...text);
}

/** The TLVs of a udata blob (libnftnl: u8 type, u8 length, value), by type. */
export function parseUserdata(b: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (let off = 0; off + 2 <= b.length;) {
    const len = b[off + 1];
    if (off + 2 + len > b.length) break;
    out.set(b[off], b.subarray(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return out;
}

/** The comment in a rule's userdata, or undefined. */
export function commentOf(userdata: Uint8Array): string | undefined {
  const v = parseUserdata(userdata).get(NFTNL_UDATA_RULE.COMMENT);
  if (!v) return undefined;
  const nul = v.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? v : v.subarray(0, nul));
}

/** One udata TLV. */
export function udataTlv(type: number, value: Uint8Array): Uint8Array {
  if (value.length > 255) throw new RangeError(`udata value too long: ${value.length} bytes`);
  return Uint8Array.of(type, value.length, ...value);
}

// ---------------------------------------------------------------------------
// Messages

/** An nf_tables request: its nlmsg_type, flags beyond NLM_F_REQUEST/NLM_F_ACK, payload. */
export interface NftRequest {
  readonly type: number;
  readonly flags: number;
  readonly payload: Uint8Array;
}

function request(msg: number, flags: number, family: number, ...attrs: Uint8Array[]): NftRequest {
  return { type: nftType(msg), flags, payload: concat(encodeNfgenmsg(family), ...attrs) };
}

/** NFNL_MSG_BATCH_BEGIN: opens a transaction of the nf_tables subsystem (res_id says which). */
export function batchBegin(): NftRequest {
  return {
    type: NFNL_MSG.BATCH_BEGIN,
    flags: 0,
    payload: encodeNfgenmsg(NFPROTO.UNSPEC, NFNL_SUBSYS_NFTABLES),
  };
}

/** NFNL_MSG_BATCH_END: commits the transaction. */
export function batchEnd(): NftRequest {
  return {
    type: NFNL_MSG.BATCH_END,
    flags: 0,
    payload: encodeNfgenmsg(NFPROTO.UNSPEC, NFNL_SUBSYS_NFTABLES),
  };
}

/** A table of a family, by name. */
export interface TableRef {
  readonly family: number;
  readonly table: string;
}

/**
 * NFT_MSG_NEWTABLE: creates the table, or keeps an existing one (no
 * NLM_F_EXCL) and sets its flags (NFT_TABLE_F: 0 wakes a dormant table).
 */
export function newTable(t: TableRef, flags = 0): NftRequest {
  return request(
    NFT_MSG.NEWTABLE,
    0,
    t.family,
    rtaString(NFTA_TABLE.NAME, t.table),
    rtaBe32(NFTA_TABLE.FLAGS, flags),
  );
}

/** NFT_MSG_GETTABLE of one table (its reply is a NEWTABLE, or ENOENT). */
export function getTable(t: TableRef): NftRequest {
  return request(NFT_MSG.GETTABLE, 0, t.family, rtaString(NFTA_TABLE.NAME, t.table));
}

/** NFT_MSG_DELTABLE: deletes the table with its chains, rules and sets. */
export function delTable(t: TableRef): NftRequest {
  return request(NFT_MSG.DELTABLE, 0, t.family, rtaString(NFTA_TABLE.NAME, t.table));
}

/** What makes a chain a base chain: attached to a hook, with a type and a policy. */
export interface BaseChain {
  /** "filter", "nat" or "route". */
  readonly type: string;
  readonly hook: number;
  readonly priority: number;
  /** NF_VERDICT.ACCEPT or DROP. */
  readonly policy: number;
}

/** NFT_MSG_NEWCHAIN (NLM_F_CREATE): creates the chain, or keeps an existing one with the same hook. */
export function newChain(t: TableRef, chain: string, base?: BaseChain): NftRequest {
  const attrs = [rtaString(NFTA_CHAIN.TABLE, t.table), rtaString(NFTA_CHAIN.NAME, chain)];
  if (base) {
    attrs.push(
      rtaString(NFTA_CHAIN.TYPE, base.type),
      rtaBe32(NFTA_CHAIN.POLICY, base.policy),
      nest(
        NFTA_CHAIN.HOOK,
        rtaBe32(NFTA_HOOK.HOOKNUM, base.hook),
        rtaBe32(NFTA_HOOK.PRIORITY, base.priority),
      ),
    );
  }
  return request(NFT_MSG.NEWCHAIN, NLM_F_NEW.CREATE, t.family, ...attrs);
}

/** A rule to add: where, its expressions and nft's comment. */
export interface NewRule extends TableRef {
  readonly chain: string;
  readonly exprs: readonly Expr[];
  readonly comment?: string;
}

/** NFT_MSG_NEWRULE (NLM_F_CREATE|NLM_F_APPEND): appends the rule to its chain. */
export function newRule(r: NewRule): NftRequest {
  return request(
    NFT_MSG.NEWRULE,
    NLM_F_NEW.CREATE | NLM_F_NEW.APPEND,
    r.family,
    rtaString(NFTA_RULE.TABLE, r.table),
    rtaString(NFTA_RULE.CHAIN, r.chain),
    nest(NFTA_RULE.EXPRESSIONS, ...r.exprs.map(encodeExpr)),
    ...(r.comment === undefined ? [] : [rta(NFTA_RULE.USERDATA, commentUserdata(r.comment))]),
  );
}

/** NFT_MSG_DELRULE of one rule, by its handle. */
export function delRule(t: TableRef, chain: string, handle: number): NftRequest {
  return request(
    NFT_MSG.DELRULE,
    0,
    t.family,
    rtaString(NFTA_RULE.TABLE, t.table),
    rtaString(NFTA_RULE.CHAIN, chain),
    rtaBe64(NFTA_RULE.HANDLE, BigInt(handle)),
  );
}

/** NFT_MSG_GETRULE with NLM_F_DUMP: the rules of a table (of one chain when given). */
export function getRules(t: TableRef, chain?: string): NftRequest {
  return request(
    NFT_MSG.GETRULE,
    NLM_F_GET.DUMP,
    t.family,
    rtaString(NFTA_RULE.TABLE, t.table),
    ...(chain === undefined ? [] : [rtaString(NFTA_RULE.CHAIN, chain)]),
  );
}

/**
 * An anonymous set, as nft makes one for `{ a, b }` in a rule: constant,
 * bound to the rule that looks it up and deleted with it. The kernel names
 * it from `__set%d`; the rule's lookup finds it by its id in the transaction.
 */
export interface AnonymousSet {
  /** The set's id in the transaction (NFTA_SET_ID), unique in it. */
  readonly id: number;
  /** nft's datatype of the key (informational: `nft list` prints the elements with it). */
  readonly keyType: number;
  readonly keyLen: number;
  /** The keys, each keyLen bytes. */
  readonly elements: readonly Uint8Array[];
  /** NFTA_SET_USERDATA, what nft keeps there to print the elements. */
  readonly userdata?: Uint8Array;
}

/** The name nft gives anonymous sets; the kernel replaces %d. */
export const ANONYMOUS_SET_NAME = "__set%d";

/** NFT_MSG_NEWSET of an anonymous set. */
export function newAnonymousSet(t: TableRef, s: AnonymousSet): NftRequest {
  return request(
    NFT_MSG.NEWSET,
    NLM_F_NEW.CREATE,
    t.family,
    rtaString(NFTA_SET.TABLE, t.table),
    rtaString(NFTA_SET.NAME, ANONYMOUS_SET_NAME),
    rtaBe32(NFTA_SET.FLAGS, NFT_SET_F.ANONYMOUS | NFT_SET_F.CONSTANT),
    rtaBe32(NFTA_SET.KEY_TYPE, s.keyType),
    rtaBe32(NFTA_SET.KEY_LEN, s.keyLen),
    rtaBe32(NFTA_SET.ID, s.id),
    nest(NFTA_SET.DESC, rtaBe32(NFTA_SET_DESC.SIZE, s.elements.length)),
    ...(s.userdata === undefined ? [] : [rta(NFTA_SET.USERDATA, s.userdata)]),
  );
}

/** NFT_MSG_NEWSETELEM: the elements of the anonymous set of the same transaction. */
export function newAnonymousSetElements(t: TableRef, s: AnonymousSet): NftRequest {
  for (const k of s.elements) {
    if (k.length !== s.keyLen) {
      throw new RangeError(`Set element of ${k.length} bytes, the key has ${s.keyLen}`);
    }
  }
  return request(
    NFT_MSG.NEWSETELEM,
    NLM_F_NEW.CREATE,
    t.family,
    rtaString(NFTA_SET_ELEM_LIST.TABLE, t.table),
    rtaString(NFTA_SET_ELEM_LIST.SET, ANONYMOUS_SET_NAME),
    rtaBe32(NFTA_SET_ELEM_LIST.SET_ID, s.id),
    nest(
      NFTA_SET_ELEM_LIST.ELEMENTS,
      // libnftnl numbers the elements 1, 2, ...; the kernel reads any nest type as an element.
      ...s.elements.map((k, i) => nest(i + 1, dataValue(NFTA_SET_ELEM.KEY, k))),
    ),
  );
}

// ---------------------------------------------------------------------------
// Replies

/** A table as GETTABLE returns it. */
export interface TableInfo extends TableRef {
  readonly flags: number;
  /** How many chains it holds. */
  readonly use: number;
  readonly handle: number;
}

/** Decodes the payload of NFT_MSG_NEWTABLE (the reply to GETTABLE). */
export function decodeTable(payload: Uint8Array): TableInfo {
  const { family } = decodeNfgenmsg(payload);
  const a = Attrs.parse(payload.subarray(NFGENMSG_LEN));
  return {
    family,
    table: a.string(NFTA_TABLE.NAME) ?? "",
    flags: a.be32(NFTA_TABLE.FLAGS) ?? 0,
    use: a.be32(NFTA_TABLE.USE) ?? 0,
    handle: Number(a.be64(NFTA_TABLE.HANDLE) ?? 0n),
  };
}

/** A rule as a dump returns it. */
export interface RuleInfo extends TableRef {
  readonly chain: string;
  readonly handle: number;
  readonly exprs: Expr[];
  /** nft's comment, from the userdata. */
  readonly comment?: string;
}

/** Decodes the payload of NFT_MSG_NEWRULE (each message of a GETRULE dump). */
export function decodeRule(payload: Uint8Array): RuleInfo {
  const { family } = decodeNfgenmsg(payload);
  const a = Attrs.parse(payload.subarray(NFGENMSG_LEN));
  const list = a.nested(NFTA_RULE.EXPRESSIONS)?.list ?? [];
  const udata = a.get(NFTA_RULE.USERDATA);
  return {
    family,
    table: a.string(NFTA_RULE.TABLE) ?? "",
    chain: a.string(NFTA_RULE.CHAIN) ?? "",
    handle: Number(a.be64(NFTA_RULE.HANDLE) ?? 0n),
    exprs: list.filter((x) => x.type === NFTA_LIST.ELEM).map((x) => decodeExpr(x.value)),
    comment: udata && commentOf(udata),
  };
}

/** The name of an nf_tables message type, e.g. "NFT_MSG_NEWRULE". */
export function nftMessageName(type: number): string {
  if (type === NFNL_MSG.BATCH_BEGIN) return "NFNL_MSG_BATCH_BEGIN";
  if (type === NFNL_MSG.BATCH_END) return "NFNL_MSG_BATCH_END";
  return nameOf(NFT_MSG, type & 0xff, "NFT_MSG_");
}
