/**
 * Links, addresses and routes of one network namespace, configured over
 * rtnetlink (no `ip` tool): bridges, veth pairs, up/down, MTU, MAC, names,
 * bridge ports, moving a link into another namespace, IPv4 and IPv6
 * addresses, routes.
 *
 * ```ts
 * using net = Rtnl.open({ netns: { pid } });   // or Rtnl.open() for ctr's own
 * net.createVeth("eth0", "veth1234");
 * net.addAddress("eth0", "10.88.0.2/16");
 * net.setUp("eth0");
 * net.addRoute({ dst: "default", gateway: "10.88.0.1" });
 * ```
 * @module
 */

import { AF, IFF, O } from "../../ffi/constants.ts";
import { close, open } from "../../ffi/sys.ts";
import {
  type Attrs,
  decodeAddr,
  decodeLink,
  decodeRoute,
  encodeIfaddrmsg,
  encodeIfinfomsg,
  encodeRtmsg,
  formatAddress,
  formatMac,
  IF_OPER,
  IFA,
  IFLA,
  IFLA_INFO,
  linkPayload,
  nameOf,
  NLM_F_GET,
  NLM_F_NEW,
  type NlMessage,
  RT_SCOPE,
  RT_TABLE,
  RTA,
  rta,
  rtaNest,
  rtaString,
  rtaU32,
  RTM,
  RTN,
  RTPROT,
  VETH_INFO,
} from "../../ffi/netlink.ts";
import { concat } from "../../ffi/bytes.ts";
import {
  NetlinkError,
  type NetlinkRequest,
  NetlinkSocket,
  netnsLabel,
  type NetnsRef,
} from "../../ffi/netlink_socket.ts";

const ENODEV = 19;

// ---------------------------------------------------------------------------
// Input checks (before anything is sent)

/** IFNAMSIZ - 1: the longest interface name the kernel takes, in bytes. */
export const MAX_LINK_NAME = 15;

/** Why `name` cannot be an interface name (the kernel's dev_valid_name), or undefined. */
export function linkNameProblem(name: string): string | undefined {
  if (typeof name !== "string" || name.length === 0) return "empty";
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > MAX_LINK_NAME) return `${bytes} bytes, at most ${MAX_LINK_NAME}`;
  if (name === "." || name === "..") return "not a name";
  if (/[/:\s\0]/.test(name)) return "contains '/', ':', a NUL or whitespace";
  return undefined;
}

/** Throws unless `name` is a valid interface name; `op` names what was being done. */
export function checkLinkName(name: string, op: string): void {
  const problem = linkNameProblem(name);
  if (problem) {
    throw new Error(`Cannot ${op}: invalid link name ${JSON.stringify(name)}: ${problem}`);
  }
}

/** An IP address: its family and bytes (4 or 16). */
export interface IpAddress {
  family: typeof AF.INET | typeof AF.INET6;
  bytes: Uint8Array;
}

/** Parses dotted IPv4 or IPv6 (with `::` and a dotted tail); throws on anything else. */
export function parseIp(text: string): IpAddress {
  const bad = () => new Error(`Invalid IP address: ${JSON.stringify(text)}`);
  if (/^\d+\.\d+\.\d+\.\d+$/.test(text)) {
    const parts = text.split(".").map(Number);
    if (parts.some((p, i) => p > 255 || text.split(".")[i].length > 3)) throw bad();
    return { family: AF.INET, bytes: Uint8Array.from(parts) };
  }
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) throw bad();
  const halves = text.split("::");
  if (halves.length > 2) throw bad();
  const words = (s: string): number[] => {
    if (s === "") return [];
    const out: number[] = [];
    const groups = s.split(":");
    groups.forEach((g, i) => {
      if (i === groups.length - 1 && g.includes(".")) {
        const v4 = parseIp(g).bytes;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) out.push(parseInt(g, 16));
      else throw bad();
    });
    return out;
  };
  const head = words(halves[0]);
  const tail = halves.length === 2 ? words(halves[1]) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) throw bad();
  const all = [...head, ...Array(fill).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => [bytes[2 * i], bytes[2 * i + 1]] = [w >> 8, w & 0xff]);
  return { family: AF.INET6, bytes };
}

/** An address with a prefix length, e.g. 10.88.0.2/16. */
export interface Cidr extends IpAddress {
  prefixLen: number;
}

/** Parses ADDRESS/PREFIX; without a prefix the address stands alone (/32, /128). */
export function parseCidr(text: string): Cidr {
  const [addr, len, extra] = text.split("/");
  if (extra !== undefined) throw new Error(`Invalid CIDR: ${JSON.stringify(text)}`);
  const ip = parseIp(addr);
  const max = ip.family === AF.INET ? 32 : 128;
  if (len === undefined) return { ...ip, prefixLen: max };
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) {
    throw new Error(`Invalid prefix length in ${JSON.stringify(text)}: 0 to ${max}`);
  }
  return { ...ip, prefixLen: Number(len) };
}

/** Parses aa:bb:cc:dd:ee:ff into 6 bytes. */
export function parseMac(text: string): Uint8Array {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) {
    throw new Error(`Invalid MAC address: ${JSON.stringify(text)} (expected aa:bb:cc:dd:ee:ff)`);
  }
  return Uint8Array.from(text.split(":").map((h) => parseInt(h, 16)));
}

/** Scope names as `ip` prints them. */
function scopeName(scope: number): string {
  const s = nameOf(RT_SCOPE, scope).toLowerCase();
  return s === "universe" ? "global" : s;
}

function familyName(family: number): "inet" | "inet6" {
  return family === AF.INET6 ? "inet6" : "inet";
}

// ---------------------------------------------------------------------------
// What the kernel reports

/** A network interface, as `ip link` shows it. */
export interface Link {
  index: number;
  name: string;
  /** IFF_* flags. */
  flags: number;
  /** IFF_UP is set. */
  up: boolean;
  mtu: number;
  /** The hardware address, aa:bb:cc:dd:ee:ff ("" when it has none). */
  mac: string;
  /** The link type: "bridge", "veth"...; undefined for plain devices such as lo. */
  kind?: string;
  /** Index of the bridge it is a port of. */
  masterIndex?: number;
  /** Name of that bridge (when it is in the same namespace, as it must be). */
  master?: string;
  /** RFC 2863 state: UP, DOWN, LOWERLAYERDOWN, UNKNOWN... */
  operstate: string;
  /** The index of its other end (a veth's peer), possibly in another namespace. */
  peerIndex?: number;
}

/** An interface address, as `ip addr` shows it. */
export interface Address {
  link: string;
  index: number;
  family: "inet" | "inet6";
  address: string;
  prefixLen: number;
  /** address/prefixLen. */
  cidr: string;
  scope: string;
  label?: string;
  /** IFA_F_* flags. */
  flags: number;
}

/** A route to add or delete. */
export interface RouteSpec {
  /** "default" or a CIDR. */
  dst: string;
  gateway?: string;
  /** The output device. */
  dev?: string;
  metric?: number;
  /** Routing table id; main (254) by default. */
  table?: number;
}

/** A route, as `ip route` shows it. */
export interface Route {
  family: "inet" | "inet6";
  /** "default" or a CIDR. */
  dst: string;
  gateway?: string;
  dev?: string;
  index?: number;
  table: number;
  protocol: string;
  scope: string;
  type: string;
  metric?: number;
  prefsrc?: string;
}

function toLink(m: NlMessage): Link {
  const { ifi, attrs } = decodeLink(m.payload);
  const info = attrs.nested(IFLA.LINKINFO);
  const mac = attrs.get(IFLA.ADDRESS);
  return {
    index: ifi.index,
    name: attrs.string(IFLA.IFNAME) ?? "",
    flags: ifi.flags,
    up: (ifi.flags & IFF.UP) !== 0,
    mtu: attrs.u32(IFLA.MTU) ?? 0,
    mac: mac ? formatMac(mac) : "",
    kind: info?.string(IFLA_INFO.KIND),
    masterIndex: attrs.u32(IFLA.MASTER) || undefined,
    operstate: nameOf(IF_OPER, attrs.u8(IFLA.OPERSTATE) ?? 0),
    peerIndex: attrs.has(IFLA.LINK) && attrs.u32(IFLA.LINK) !== ifi.index
      ? attrs.u32(IFLA.LINK)
      : undefined,
  };
}

function addrText(attrs: Attrs, type: number): string | undefined {
  const b = attrs.get(type);
  return b && formatAddress(b);
}

// ---------------------------------------------------------------------------
// Operations

/** rtnetlink operations on the links, addresses and routes of one network namespace. */
export class Rtnl implements Disposable {
  /** Takes an open socket, or any object that answers requests as one does (tests). */
  constructor(readonly socket: Pick<NetlinkSocket, "request" | "close">) {}

  /** Opens ctr's own namespace, or `netns` (by pid, path or fd) from outside. */
  static open(opts: { netns?: NetnsRef } = {}): Rtnl {
    return new Rtnl(NetlinkSocket.open(opts));
  }

  close(): void {
    this.socket.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #call(req: NetlinkRequest): NlMessage[] {
    return this.socket.request(req);
  }

  #byName(name: string, op: string): Uint8Array {
    checkLinkName(name, op);
    return rtaString(IFLA.IFNAME, name);
  }

  // --- links ---------------------------------------------------------------

  /** Every link of the namespace. */
  listLinks(): Link[] {
    const msgs = this.#call({
      type: RTM.GETLINK,
      flags: NLM_F_GET.DUMP,
      payload: encodeIfinfomsg(),
      op: "list links",
    });
    const links = msgs.filter((m) => m.type === RTM.NEWLINK).map(toLink);
    const names = new Map(links.map((l) => [l.index, l.name]));
    for (const l of links) if (l.masterIndex) l.master = names.get(l.masterIndex);
    return links;
  }

  /** One link by name; a missing one throws NetlinkError ENODEV. */
  getLink(name: string): Link {
    const op = "find link";
    const msgs = this.#call({
      type: RTM.GETLINK,
      payload: linkPayload({}, this.#byName(name, op)),
      op,
      object: name,
    });
    const m = msgs.find((x) => x.type === RTM.NEWLINK);
    if (!m) throw new Error(`Cannot find link ${name}: the kernel sent no link`);
    const link = toLink(m);
    if (link.masterIndex) {
      link.master = this.listLinks().find((l) => l.index === link.masterIndex)?.name;
    }
    return link;
  }

  /** One link by name, or undefined when there is none. */
  findLink(name: string): Link | undefined {
    try {
      return this.getLink(name);
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ENODEV) return undefined;
      throw e;
    }
  }

  #index(name: string, op: string): number {
    checkLinkName(name, op);
    try {
      return this.getLink(name).index;
    } catch (e) {
      if (e instanceof NetlinkError) {
        throw new NetlinkError(op, { errno: e.errno, message: e.kernelMessage }, name);
      }
      throw e;
    }
  }

  /** Creates a bridge (down, as the kernel makes it). */
  createBridge(name: string, opts: { mtu?: number } = {}): void {
    const op = "create bridge";
    this.#call({
      type: RTM.NEWLINK,
      flags: NLM_F_NEW.CREATE | NLM_F_NEW.EXCL,
      payload: linkPayload(
        {},
        this.#byName(name, op),
        ...mtuAttr(opts.mtu, op),
        rtaNest(IFLA.LINKINFO, rtaString(IFLA_INFO.KIND, "bridge")),
      ),
      op,
      object: name,
    });
  }

  /**
   * Creates a veth pair `name` ↔ `peer`. With `peerNetns` the peer is born in
   * that namespace (by pid or an open fd), where it must not clash.
   */
  createVeth(
    name: string,
    peer: string,
    opts: { mtu?: number; peerNetns?: { pid: number } | { fd: number } } = {},
  ): void {
    const op = "create veth";
    checkLinkName(peer, `${op} ${name}`);
    const where = opts.peerNetns ? [netnsAttr(opts.peerNetns)] : [];
    const peerInfo = linkPayload(
      {},
      rtaString(IFLA.IFNAME, peer),
      ...mtuAttr(opts.mtu, op),
      ...where,
    );
    this.#call({
      type: RTM.NEWLINK,
      flags: NLM_F_NEW.CREATE | NLM_F_NEW.EXCL,
      payload: linkPayload(
        {},
        this.#byName(name, op),
        ...mtuAttr(opts.mtu, op),
        rtaNest(
          IFLA.LINKINFO,
          rtaString(IFLA_INFO.KIND, "veth"),
          rtaNest(IFLA_INFO.DATA, rta(VETH_INFO.PEER, peerInfo)),
        ),
      ),
      op,
      object: `${name} (peer ${peer})`,
    });
  }

  /** Deletes a link (a veth takes its peer with it); a missing one throws ENODEV. */
  deleteLink(name: string): void {
    const op = "delete link";
    this.#call({
      type: RTM.DELLINK,
      payload: linkPayload({}, this.#byName(name, op)),
      op,
      object: name,
    });
  }

  #set(name: string, op: string, ifi: { flags?: number; change?: number }, ...attrs: Uint8Array[]) {
    this.#call({
      type: RTM.SETLINK,
      payload: linkPayload(ifi, this.#byName(name, op), ...attrs),
      op,
      object: name,
    });
  }

  /** Brings a link up. */
  setUp(name: string): void {
    this.#set(name, "set up", { flags: IFF.UP, change: IFF.UP });
  }

  /** Brings a link down. */
  setDown(name: string): void {
    this.#set(name, "set down", { flags: 0, change: IFF.UP });
  }

  /** Sets the MTU. */
  setMtu(name: string, mtu: number): void {
    const op = "set mtu";
    this.#set(name, op, {}, ...mtuAttr(mtu, op));
  }

  /** Sets the hardware address (aa:bb:cc:dd:ee:ff). */
  setMac(name: string, mac: string): void {
    this.#set(name, "set mac", {}, rta(IFLA.ADDRESS, parseMac(mac)));
  }

  /** Renames a link; older kernels refuse (EBUSY) while it is up, so rename it down. */
  rename(name: string, newName: string): void {
    const op = "rename link";
    checkLinkName(newName, `${op} ${name}`);
    const index = this.#index(name, op);
    this.#call({
      type: RTM.SETLINK,
      payload: linkPayload({ index }, rtaString(IFLA.IFNAME, newName)),
      op,
      object: `${name} to ${newName}`,
    });
  }

  /** Makes a link a port of a bridge; `null` detaches it. */
  setMaster(name: string, bridge: string | null): void {
    const op = bridge === null ? "detach from bridge" : "attach to bridge";
    checkLinkName(name, op);
    const master = bridge === null ? 0 : this.#index(bridge, op);
    this.#call({
      type: RTM.SETLINK,
      payload: linkPayload({}, this.#byName(name, op), rtaU32(IFLA.MASTER, master)),
      op,
      object: bridge === null ? name : `${name} to ${bridge}`,
    });
  }

  /**
   * Moves a link into another network namespace (by pid, path or open fd),
   * optionally renaming it on the way (`name: "eth0"`).
   */
  moveToNetns(name: string, target: NetnsRef, opts: { name?: string } = {}): void {
    const op = "move link";
    let fd = -1;
    if ("path" in target) fd = open(target.path, O.RDONLY);
    try {
      const where = "path" in target ? netnsAttr({ fd }) : netnsAttr(target);
      const object = `${name} to ${netnsLabel(target)}`;
      if (opts.name === undefined) {
        this.#call({
          type: RTM.SETLINK,
          payload: linkPayload({}, this.#byName(name, op), where),
          op,
          object,
        });
      } else {
        checkLinkName(opts.name, `${op} ${name}`);
        const index = this.#index(name, op);
        this.#call({
          type: RTM.SETLINK,
          payload: linkPayload({ index }, rtaString(IFLA.IFNAME, opts.name), where),
          op,
          object: `${object} as ${opts.name}`,
        });
      }
    } finally {
      if (fd >= 0) close(fd);
    }
  }

  // --- addresses -----------------------------------------------------------

  #addrPayload(name: string, cidr: string, op: string): Uint8Array {
    const a = parseCidr(cidr);
    const index = this.#index(name, op);
    const loopback = a.family === AF.INET && a.bytes[0] === 127;
    const attrs = [rta(IFA.LOCAL, a.bytes), rta(IFA.ADDRESS, a.bytes)];
    if (a.family === AF.INET && a.prefixLen < 31) {
      const brd = Uint8Array.from(a.bytes);
      for (let bit = a.prefixLen; bit < 32; bit++) brd[bit >> 3] |= 0x80 >> (bit & 7);
      attrs.push(rta(IFA.BROADCAST, brd));
    }
    const scope = loopback ? RT_SCOPE.HOST : RT_SCOPE.UNIVERSE;
    return concat(
      encodeIfaddrmsg({ family: a.family, prefixLen: a.prefixLen, scope, index }),
      ...attrs,
    );
  }

  /** Adds an address (10.88.0.2/16, fd00::2/64) to a link; IPv4 gets its broadcast. */
  addAddress(name: string, cidr: string): void {
    const op = "add address";
    this.#call({
      type: RTM.NEWADDR,
      flags: NLM_F_NEW.CREATE | NLM_F_NEW.EXCL,
      payload: this.#addrPayload(name, cidr, op),
      op,
      object: `${cidr} to ${name}`,
    });
  }

  /** Removes an address from a link. */
  deleteAddress(name: string, cidr: string): void {
    const op = "delete address";
    this.#call({
      type: RTM.DELADDR,
      payload: this.#addrPayload(name, cidr, op),
      op,
      object: `${cidr} from ${name}`,
    });
  }

  /** The addresses of every link, or of one. */
  listAddresses(name?: string): Address[] {
    const index = name === undefined ? undefined : this.#index(name, "list addresses");
    const names = new Map(this.listLinks().map((l) => [l.index, l.name]));
    const msgs = this.#call({
      type: RTM.GETADDR,
      flags: NLM_F_GET.DUMP,
      payload: encodeIfaddrmsg(),
      op: "list addresses",
      object: name,
    });
    return msgs.filter((m) => m.type === RTM.NEWADDR).map((m) => {
      const { ifa, attrs } = decodeAddr(m.payload);
      const address = addrText(attrs, IFA.LOCAL) ?? addrText(attrs, IFA.ADDRESS) ?? "";
      return {
        link: names.get(ifa.index) ?? "",
        index: ifa.index,
        family: familyName(ifa.family),
        address,
        prefixLen: ifa.prefixLen,
        cidr: `${address}/${ifa.prefixLen}`,
        scope: scopeName(ifa.scope),
        label: attrs.string(IFA.LABEL),
        flags: attrs.u32(IFA.FLAGS) ?? ifa.flags,
      };
    }).filter((a) => index === undefined || a.index === index);
  }

  // --- routes --------------------------------------------------------------

  #routePayload(r: RouteSpec, op: string, adding: boolean): Uint8Array {
    const gw = r.gateway === undefined ? undefined : parseIp(r.gateway);
    const dst = r.dst === "default" ? undefined : parseCidr(r.dst);
    const family = dst?.family ?? gw?.family ?? AF.INET;
    if (gw && gw.family !== family) {
      throw new Error(`Cannot ${op} ${r.dst}: gateway ${r.gateway} is of another address family`);
    }
    const table = r.table ?? RT_TABLE.MAIN;
    if (!Number.isInteger(table) || table < 1 || table > 0xffffffff) {
      throw new Error(`Cannot ${op} ${r.dst}: invalid table ${table}`);
    }
    const attrs: Uint8Array[] = [];
    if (dst) attrs.push(rta(RTA.DST, dst.bytes));
    if (gw) attrs.push(rta(RTA.GATEWAY, gw.bytes));
    if (r.dev !== undefined) attrs.push(rtaU32(RTA.OIF, this.#index(r.dev, op)));
    if (r.metric !== undefined) attrs.push(rtaU32(RTA.PRIORITY, r.metric));
    if (table > 255) attrs.push(rtaU32(RTA.TABLE, table));
    const head = encodeRtmsg({
      family,
      dstLen: dst?.prefixLen ?? 0,
      table: table > 255 ? RT_TABLE.UNSPEC : table,
      // As `ip route` does: a delete matches any protocol, scope and type.
      protocol: adding ? RTPROT.BOOT : RTPROT.UNSPEC,
      scope: !adding ? RT_SCOPE.NOWHERE : gw || !r.dev ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK,
      type: adding ? RTN.UNICAST : RTN.UNSPEC,
    });
    return concat(head, ...attrs);
  }

  /** Adds a route: `{ dst: "default", gateway: "10.88.0.1" }`, `{ dst: "10.1.0.0/16", dev: "eth0" }`. */
  addRoute(r: RouteSpec): void {
    const op = "add route";
    this.#call({
      type: RTM.NEWROUTE,
      flags: NLM_F_NEW.CREATE | NLM_F_NEW.EXCL,
      payload: this.#routePayload(r, op, true),
      op,
      object: routeText(r),
    });
  }

  /** Deletes a route; a missing one throws ESRCH. */
  deleteRoute(r: RouteSpec): void {
    const op = "delete route";
    this.#call({
      type: RTM.DELROUTE,
      payload: this.#routePayload(r, op, false),
      op,
      object: routeText(r),
    });
  }

  /** The routes of a table (main by default; "all" for every table) and family. */
  listRoutes(opts: { family?: "inet" | "inet6"; table?: number | "all" } = {}): Route[] {
    const family = opts.family === "inet6" ? AF.INET6 : AF.INET;
    const table = opts.table ?? RT_TABLE.MAIN;
    const names = new Map(this.listLinks().map((l) => [l.index, l.name]));
    const msgs = this.#call({
      type: RTM.GETROUTE,
      flags: NLM_F_GET.DUMP,
      payload: encodeRtmsg({ family }),
      op: "list routes",
    });
    return msgs.filter((m) => m.type === RTM.NEWROUTE).map((m): Route => {
      const { rtm, attrs } = decodeRoute(m.payload);
      const index = attrs.u32(RTA.OIF);
      const dst = addrText(attrs, RTA.DST);
      return {
        family: familyName(rtm.family),
        dst: dst === undefined ? "default" : `${dst}/${rtm.dstLen}`,
        gateway: addrText(attrs, RTA.GATEWAY),
        dev: index === undefined ? undefined : names.get(index),
        index,
        table: attrs.u32(RTA.TABLE) ?? rtm.table,
        protocol: nameOf(RTPROT, rtm.protocol).toLowerCase(),
        scope: scopeName(rtm.scope),
        type: nameOf(RTN, rtm.type).toLowerCase(),
        metric: attrs.u32(RTA.PRIORITY),
        prefsrc: addrText(attrs, RTA.PREFSRC),
      };
    }).filter((r) => table === "all" || r.table === table);
  }
}

function routeText(r: RouteSpec): string {
  return [
    r.dst,
    r.gateway === undefined ? "" : `via ${r.gateway}`,
    r.dev === undefined ? "" : `dev ${r.dev}`,
  ].filter(Boolean).join(" ");
}

function mtuAttr(mtu: number | undefined, op: string): Uint8Array[] {
  if (mtu === undefined) return [];
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 0x7fffffff) {
    throw new Error(`Cannot ${op}: invalid MTU ${mtu} (68 or more)`);
  }
  return [rtaU32(IFLA.MTU, mtu)];
}

function netnsAttr(ns: { pid: number } | { fd: number }): Uint8Array {
  if ("pid" in ns) {
    if (!Number.isSafeInteger(ns.pid) || ns.pid <= 0) throw new Error(`Invalid pid: ${ns.pid}`);
    return rtaU32(IFLA.NET_NS_PID, ns.pid);
  }
  return rtaU32(IFLA.NET_NS_FD, ns.fd);
}

export { NetlinkError, type NetnsRef };
