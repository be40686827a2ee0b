/**
 * nf_tables over netlink, without the `nft` program: statements in nft's
 * words turned into the expressions nft itself makes of them, and a client
 * that sends a table's changes as one transaction and lists a table's rules.
 *
 * ```ts
 * using nft = Nftables.open();
 * const t = { family: "ip", table: "ctr" } as const;
 * nft.commit(t, [
 *   { add: "table" },
 *   { add: "chain", chain: "postrouting", base: { type: "nat", hook: "postrouting", priority: 100 } },
 *   { add: "rule", chain: "postrouting", comment: "ctr:1234",
 *     statements: [ipSaddr("10.0.0.2"), oifname("ctr0", "!="), masquerade()] },
 * ]);
 * nft.rules(t); // [{ chain: "postrouting", handle: 4, comment: "ctr:1234", exprs: [...] }]
 * ```
 *
 * Each statement carries its text, so a rule prints as nft would list it
 * (`ip saddr 10.0.0.2 oifname != "ctr0" masquerade`), and its expressions,
 * which are those `nft --debug=netlink` shows for the same text: the rules
 * ctr writes read back in `nft list ruleset` exactly as if nft had added them.
 * @module
 */

import { type NetlinkRequest, NetlinkSocket, type NetnsRef } from "../../ffi/netlink_socket.ts";
import {
  type AnonymousSet,
  type BaseChain,
  batchBegin,
  batchEnd,
  decodeRule,
  delRule,
  delTable,
  type Expr,
  getRules,
  getTable,
  newAnonymousSet,
  newAnonymousSetElements,
  newChain,
  newRule,
  newTable,
  NF_INET_HOOK,
  NF_NAT_RANGE,
  NF_VERDICT,
  NFPROTO,
  NFT_CMP,
  NFT_CT,
  NFT_FIB_RESULT,
  NFT_LOOKUP_F,
  NFT_META,
  NFT_MSG,
  NFT_NAT,
  NFT_PAYLOAD,
  NFT_REG,
  NFT_TABLE_F,
  NFTA_FIB_F,
  NFTNL_UDATA_SET,
  NFTNL_UDATA_SET_TYPEOF,
  type NftRequest,
  nftType,
  type RuleInfo,
  udataTlv,
} from "../../ffi/nftables.ts";
import { SyscallError } from "../../ffi/errno.ts";

const ENOENT = 2;
const IFNAMSIZ = 16;

/** nft's families and their NFPROTO numbers. */
export const FAMILIES = { ip: NFPROTO.IPV4, ip6: NFPROTO.IPV6, inet: NFPROTO.INET } as const;
/** A family by nft's name. */
export type Family = keyof typeof FAMILIES;

/** A table: its family and name, as in `table ip ctr`. */
export interface Table {
  readonly family: Family;
  readonly table: string;
}

// ---------------------------------------------------------------------------
// Statements

/**
 * One statement of a rule: nft's text and the expressions it stands for. A
 * statement that looks up an anonymous set (`ct state != { a, b }`) carries
 * the set; its lookup gets the set's transaction id when the rule is sent.
 */
export interface Statement {
  readonly text: string;
  readonly exprs: readonly Expr[];
  readonly set?: Omit<AnonymousSet, "id">;
}

/** A comparison operator of a match. */
export type MatchOp = "==" | "!=";

function cmp(op: MatchOp, data: Uint8Array): Expr {
  return { type: "cmp", sreg: NFT_REG.R1, op: op === "!=" ? NFT_CMP.NEQ : NFT_CMP.EQ, data };
}

function quoted(op: MatchOp, s: string): string {
  return `${op === "!=" ? "!= " : ""}${s}`;
}

/**
 * An interface name as nft compares it: all IFNAMSIZ bytes (NUL-padded), or
 * for a wildcard `ctr*` only the bytes before the star, without a NUL: a
 * prefix match.
 */
export function ifnameBytes(name: string): Uint8Array {
  const wildcard = name.endsWith("*");
  const text = new TextEncoder().encode(wildcard ? name.slice(0, -1) : name);
  if (
    text.length === 0 || text.length >= IFNAMSIZ ||
    /[\s"*\\/]/.test(wildcard ? name.slice(0, -1) : name)
  ) {
    throw new Error(`Invalid interface name for a rule: ${JSON.stringify(name)}`);
  }
  if (wildcard) return text;
  const out = new Uint8Array(IFNAMSIZ);
  out.set(text);
  return out;
}

function ifname(key: number, word: string, name: string, op: MatchOp): Statement {
  return {
    text: `${word} ${quoted(op, JSON.stringify(name))}`,
    exprs: [{ type: "meta", key, dreg: NFT_REG.R1 }, cmp(op, ifnameBytes(name))],
  };
}

/** `iifname "ctr0"` (or `!=`; a trailing `*` matches a prefix). */
export function iifname(name: string, op: MatchOp = "=="): Statement {
  return ifname(NFT_META.IIFNAME, "iifname", name, op);
}

/** `oifname "ctr*"` (or `!=`; a trailing `*` matches a prefix). */
export function oifname(name: string, op: MatchOp = "=="): Statement {
  return ifname(NFT_META.OIFNAME, "oifname", name, op);
}

/** An IPv4 address or prefix: `10.0.0.2` or `127.0.0.0/8` (host bits must be clear). */
export function parseIpv4Prefix(s: string): { addr: Uint8Array; len: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(s);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const len = m?.[5] === undefined ? 32 : Number(m[5]);
  if (!m || octets.some((o) => o > 255) || len > 32 || len < 1) {
    throw new Error(`Invalid IPv4 address or prefix for a rule: ${s}`);
  }
  const addr = Uint8Array.from(octets);
  if (addr.some((b, i) => (b & ~prefixMask(len)[i] & 0xff) !== 0)) {
    throw new Error(`Invalid IPv4 prefix for a rule: ${s} has host bits set`);
  }
  return { addr, len };
}

function prefixMask(len: number): Uint8Array {
  return Uint8Array.from({ length: 4 }, (_, i) => {
    const bits = Math.max(0, Math.min(8, len - 8 * i));
    return (0xff00 >> bits) & 0xff;
  });
}

/**
 * `ip saddr`/`ip daddr` matches as nft makes them: a whole-byte prefix loads
 * only its bytes (`127.0.0.0/8`: one byte); another prefix loads the address
 * and masks it (bitwise) before the comparison.
 */
function ipAddr(offset: number, word: string, addr: string, op: MatchOp): Statement {
  const { addr: bytes, len } = parseIpv4Prefix(addr);
  const whole = len % 8 === 0;
  const n = whole ? len / 8 : 4;
  const exprs: Expr[] = [{
    type: "payload",
    base: NFT_PAYLOAD.NETWORK_HEADER,
    offset,
    len: n,
    dreg: NFT_REG.R1,
  }];
  if (!whole) {
    exprs.push({
      type: "bitwise",
      sreg: NFT_REG.R1,
      dreg: NFT_REG.R1,
      mask: prefixMask(len),
      xor: new Uint8Array(4),
    });
  }
  exprs.push(cmp(op, bytes.slice(0, n)));
  return { text: `ip ${word} ${quoted(op, addr.replace(/\/32$/, ""))}`, exprs };
}

/** `ip saddr 10.0.0.2`, `ip saddr 127.0.0.0/8` (or `!=`). */
export function ipSaddr(addr: string, op: MatchOp = "=="): Statement {
  return ipAddr(12, "saddr", addr, op);
}

/** `ip daddr 10.0.0.2`, `ip daddr != 127.0.0.0/8`. */
export function ipDaddr(addr: string, op: MatchOp = "=="): Statement {
  return ipAddr(16, "daddr", addr, op);
}

/** `fib daddr type local`: the destination is an address of this host. */
export function fibDaddrTypeLocal(): Statement {
  const RTN_LOCAL = 2;
  return {
    text: "fib daddr type local",
    exprs: [
      {
        type: "fib",
        flags: NFTA_FIB_F.DADDR,
        result: NFT_FIB_RESULT.ADDRTYPE,
        dreg: NFT_REG.R1,
      },
      cmp("==", hostU32(RTN_LOCAL)),
    ],
  };
}

const L4PROTO = { tcp: 6, udp: 17 } as const;

/** `tcp dport 8080` / `udp dport 53`: the protocol (meta l4proto) and the port (big-endian). */
export function dport(protocol: keyof typeof L4PROTO, port: number): Statement {
  return {
    text: `${protocol} dport ${port}`,
    exprs: [
      { type: "meta", key: NFT_META.L4PROTO, dreg: NFT_REG.R1 },
      cmp("==", Uint8Array.of(L4PROTO[protocol])),
      { type: "payload", base: NFT_PAYLOAD.TRANSPORT_HEADER, offset: 2, len: 2, dreg: NFT_REG.R1 },
      cmp("==", be16(checkPort(port))),
    ],
  };
}

/** Conntrack status bits (linux/netfilter/nf_conntrack_common.h IPS_*), by nft's names. */
export const CT_STATUS = {
  expected: 1,
  "seen-reply": 2,
  assured: 4,
  confirmed: 8,
  snat: 0x10,
  dnat: 0x20,
} as const;

/** `ct status ! dnat`: the connection's status lacks the bit (bitwise, then == 0). */
export function ctStatusLacks(bit: keyof typeof CT_STATUS): Statement {
  return {
    text: `ct status ! ${bit}`,
    exprs: [
      { type: "ct", key: NFT_CT.STATUS, dreg: NFT_REG.R1 },
      {
        type: "bitwise",
        sreg: NFT_REG.R1,
        dreg: NFT_REG.R1,
        mask: hostU32(CT_STATUS[bit]),
        xor: new Uint8Array(4),
      },
      cmp("==", new Uint8Array(4)),
    ],
  };
}

/** Conntrack states (nft's ct_state), as bits. */
export const CT_STATE = {
  invalid: 1,
  established: 2,
  related: 4,
  new: 8,
  untracked: 64,
} as const;
/** nft's datatype number of ct_state (TYPE_CT_STATE), the key type of its sets. */
const TYPE_CT_STATE = 26;
/** nft's expression type of `ct` (EXPR_CT), recorded in a set's typeof. */
const EXPR_CT = 12;
/** nft's byte order of host-endian keys (BYTEORDER_HOST_ENDIAN). */
const BYTEORDER_HOST_ENDIAN = 1;

/**
 * `ct state != { established, related }`: a lookup in an anonymous set of
 * states, inverted, with the set's userdata as nft writes it (host-endian
 * keys, typeof `ct state`).
 */
export function ctStateNotIn(states: readonly (keyof typeof CT_STATE)[]): Statement {
  const typeofCt = udataTlv(
    NFTNL_UDATA_SET_TYPEOF.DATA,
    Uint8Array.of(...udataTlv(0, hostU32(NFT_CT.STATE)), ...udataTlv(1, hostU32(0xffffffff))),
  );
  return {
    text: `ct state != { ${states.join(", ")} }`,
    exprs: [
      { type: "ct", key: NFT_CT.STATE, dreg: NFT_REG.R1 },
      { type: "lookup", sreg: NFT_REG.R1, set: "__set%d", flags: NFT_LOOKUP_F.INV },
    ],
    set: {
      keyType: TYPE_CT_STATE,
      keyLen: 4,
      elements: states.map((s) => hostU32(CT_STATE[s])),
      userdata: Uint8Array.of(
        ...udataTlv(NFTNL_UDATA_SET.KEYBYTEORDER, hostU32(BYTEORDER_HOST_ENDIAN)),
        ...udataTlv(
          NFTNL_UDATA_SET.KEY_TYPEOF,
          Uint8Array.of(...udataTlv(NFTNL_UDATA_SET_TYPEOF.EXPR, hostU32(EXPR_CT)), ...typeofCt),
        ),
      ),
    },
  };
}

/** `masquerade`: source NAT to the address of the outgoing interface. */
export function masquerade(): Statement {
  return { text: "masquerade", exprs: [{ type: "masq" }] };
}

/** `dnat to 10.0.0.2:80` (or without a port): the address and port go through registers 1 and 2. */
export function dnatTo(ip: string, port?: number): Statement {
  const { addr, len } = parseIpv4Prefix(ip);
  if (len !== 32) throw new Error(`Invalid DNAT address: ${ip}`);
  const exprs: Expr[] = [{ type: "immediate", dreg: NFT_REG.R1, data: addr }];
  if (port !== undefined) {
    exprs.push({ type: "immediate", dreg: NFT_REG.R2, data: be16(checkPort(port)) });
  }
  exprs.push({
    type: "nat",
    nat: NFT_NAT.DNAT,
    family: NFPROTO.IPV4,
    regAddrMin: NFT_REG.R1,
    ...(port === undefined ? {} : { regProtoMin: NFT_REG.R2, flags: NF_NAT_RANGE.PROTO_SPECIFIED }),
  });
  return { text: `dnat to ${ip}${port === undefined ? "" : `:${port}`}`, exprs };
}

/** `counter`: packets and bytes that reached it. */
export function counter(): Statement {
  return { text: "counter", exprs: [{ type: "counter" }] };
}

function verdict(text: string, code: number, chain?: string): Statement {
  return {
    text,
    exprs: [{
      type: "immediate",
      dreg: 0,
      verdict: chain === undefined ? { code } : { code, chain },
    }],
  };
}

/** `drop`. */
export function drop(): Statement {
  return verdict("drop", NF_VERDICT.DROP);
}

/** `accept`. */
export function accept(): Statement {
  return verdict("accept", NF_VERDICT.ACCEPT);
}

/** `jump CHAIN`: on to a chain of the same table, then back. */
export function jump(chain: string): Statement {
  checkName(chain, "chain");
  return verdict(`jump ${chain}`, NF_VERDICT.JUMP, chain);
}

/** A rule's text as `nft list` prints it. */
export function ruleText(statements: readonly Statement[], comment?: string): string {
  const body = statements.map((s) => s.text).join(" ");
  return comment === undefined ? body : `${body} comment ${JSON.stringify(comment)}`;
}

function hostU32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

function be16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`Invalid port for a rule: ${port}`);
  }
  return port;
}

function checkName(name: string, what: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,254}$/.test(name)) {
    throw new Error(`Invalid nf_tables ${what} name: ${JSON.stringify(name)}`);
  }
}

// ---------------------------------------------------------------------------
// Changes and the client

/** nft's hook names, for base chains of the ip, ip6 and inet families. */
export const HOOKS = {
  prerouting: NF_INET_HOOK.PRE_ROUTING,
  input: NF_INET_HOOK.LOCAL_IN,
  forward: NF_INET_HOOK.FORWARD,
  output: NF_INET_HOOK.LOCAL_OUT,
  postrouting: NF_INET_HOOK.POST_ROUTING,
} as const;

/** A base chain in nft's words: `type nat hook postrouting priority 100; policy accept;`. */
export interface Hook {
  readonly type: "filter" | "nat" | "route";
  readonly hook: keyof typeof HOOKS;
  readonly priority: number;
  /** Default accept. */
  readonly policy?: "accept" | "drop";
}

/** One change to a table; a transaction is a list of them. */
export type Change =
  /**
   * Creates the table, or keeps it with its contents. Dormant: its chains see
   * no packet (for tests, and to stage rules); without, a dormant table wakes.
   */
  | { readonly add: "table"; readonly dormant?: boolean }
  /** Creates the chain, or keeps it as it is (a base chain's hook must be the same). */
  | { readonly add: "chain"; readonly chain: string; readonly base?: Hook }
  /** Appends a rule. */
  | {
    readonly add: "rule";
    readonly chain: string;
    readonly statements: readonly Statement[];
    readonly comment?: string;
  }
  /** Deletes one rule by its handle. */
  | { readonly delete: "rule"; readonly chain: string; readonly handle: number }
  /** Deletes the table and everything in it. */
  | { readonly delete: "table" };

function refOf(t: Table): { family: number; table: string } {
  const family = FAMILIES[t.family];
  if (family === undefined) throw new Error(`Unknown nf_tables family: ${t.family}`);
  checkName(t.table, "table");
  return { family, table: t.table };
}

/**
 * The messages of a transaction, each with the words that name it in an
 * error. Anonymous sets are numbered here, in the order of the rules that
 * use them; each comes just before its rule.
 */
export function transaction(t: Table, changes: readonly Change[]): (NftRequest & { op: string })[] {
  const ref = refOf(t);
  const name = `${t.family} ${t.table}`;
  const out: (NftRequest & { op: string })[] = [];
  let setId = 0;
  for (const c of changes) {
    if ("delete" in c) {
      if (c.delete === "table") out.push({ ...delTable(ref), op: `delete table ${name}` });
      else {
        out.push({
          ...delRule(ref, c.chain, c.handle),
          op: `delete rule ${name} ${c.chain} handle ${c.handle}`,
        });
      }
      continue;
    }
    if (c.add === "table") {
      out.push({
        ...newTable(ref, c.dormant ? NFT_TABLE_F.DORMANT : 0),
        op: `add table ${name}`,
      });
    } else if (c.add === "chain") {
      checkName(c.chain, "chain");
      const base: BaseChain | undefined = c.base && {
        type: c.base.type,
        hook: HOOKS[c.base.hook],
        priority: c.base.priority,
        policy: c.base.policy === "drop" ? NF_VERDICT.DROP : NF_VERDICT.ACCEPT,
      };
      out.push({ ...newChain(ref, c.chain, base), op: `add chain ${name} ${c.chain}` });
    } else {
      checkName(c.chain, "chain");
      const op = `add rule to ${name} ${c.chain}`;
      const exprs: Expr[] = [];
      for (const s of c.statements) {
        if (!s.set) {
          exprs.push(...s.exprs);
          continue;
        }
        const set: AnonymousSet = { ...s.set, id: ++setId };
        out.push({
          ...newAnonymousSet(ref, set),
          op: `add the set of a rule to ${name} ${c.chain}`,
        });
        out.push({
          ...newAnonymousSetElements(ref, set),
          op: `add the set elements of a rule to ${name} ${c.chain}`,
        });
        exprs.push(
          ...s.exprs.map((e) =>
            e.type === "lookup" && e.setId === undefined ? { ...e, setId: set.id } : e
          ),
        );
      }
      out.push({ ...newRule({ ...ref, chain: c.chain, exprs, comment: c.comment }), op });
    }
  }
  return out;
}

/**
 * A NETLINK_NETFILTER socket speaking nf_tables: transactions, rule
 * listings, table lookups. Errors read
 * `nf_tables: add rule to ip ctr postrouting: ENOENT (No such file or directory)`.
 */
export class Nftables implements Disposable {
  readonly #sock: NetlinkSocket;

  private constructor(sock: NetlinkSocket) {
    this.#sock = sock;
  }

  /** Opens a socket in ctr's own network namespace, or in `netns`. */
  static open(opts: { netns?: NetnsRef } = {}): Nftables {
    return new Nftables(NetlinkSocket.open({ ...opts, protocol: "netfilter" }));
  }

  /**
   * Whether this kernel has nf_tables: it answers a GETTABLE of `t` (with the
   * table or ENOENT). Without the module (and no way to load it) the socket
   * or the request fails instead.
   */
  static available(t: Table): boolean {
    try {
      using nft = Nftables.open();
      nft.tableExists(t);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Applies the changes as one transaction (NFNL_MSG_BATCH_BEGIN ... END):
   * the kernel makes all of them or none. Every message asks for an
   * acknowledgement, so the error names the change the kernel refused.
   */
  commit(t: Table, changes: readonly Change[]): void {
    if (changes.length === 0) return;
    const msgs: NetlinkRequest[] = transaction(t, changes).map((m) => ({
      ...m,
      op: `nf_tables: ${m.op}`,
    }));
    const marker = (m: NftRequest) => ({ ...m, op: "nf_tables: commit", ack: false });
    this.#sock.batch([marker(batchBegin()), ...msgs, marker(batchEnd())]);
  }

  /** The rules of a table (of one chain when given), in order; none when the table does not exist. */
  rules(t: Table, chain?: string): RuleInfo[] {
    const req = getRules(refOf(t), chain);
    const replies = this.#sock.request({
      ...req,
      op: `nf_tables: list the rules of ${t.family} ${t.table}${chain ? ` ${chain}` : ""}`,
    });
    return replies.filter((m) => m.type === nftType(NFT_MSG.NEWRULE)).map((m) =>
      decodeRule(m.payload)
    );
  }

  /** Whether the table exists (GETTABLE: its reply, or ENOENT). */
  tableExists(t: Table): boolean {
    try {
      this.#sock.request({
        ...getTable(refOf(t)),
        op: `nf_tables: get table ${t.family} ${t.table}`,
      });
      return true;
    } catch (e) {
      if (e instanceof SyscallError && e.errno === ENOENT) return false;
      throw e;
    }
  }

  /** Closes the socket. */
  close(): void {
    this.#sock.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
