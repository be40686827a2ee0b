/**
 * The rtnetlink codec on byte fixtures computed by hand (and one recorded
 * from iproute2), and the requests that lib/network/link.ts builds, checked
 * against a recording socket. No root, no kernel.
 */
import assert from "node:assert/strict";
import {
  align4,
  Attrs,
  decodeError,
  decodeIfaddrmsg,
  decodeLink,
  decodeMessages,
  decodeRtmsg,
  encodeIfaddrmsg,
  encodeIfinfomsg,
  encodeMessage,
  encodeRtmsg,
  errnoName,
  formatAddress,
  formatMessage,
  IFLA,
  IFLA_INFO,
  linkPayload,
  nameOf,
  NetlinkDecodeError,
  NLA_F,
  NLM_F,
  NLM_F_GET,
  NLM_F_NEW,
  type NlMessage,
  nlmFlagNames,
  NLMSG,
  ReplyCollector,
  rta,
  rtaNest,
  rtaString,
  rtaU32,
  rtaU8,
  RTM,
  VETH_INFO,
} from "../../ffi/netlink.ts";
import { NetlinkError, type NetlinkRequest } from "../../ffi/netlink_socket.ts";
import { linkNameProblem, parseCidr, parseIp, parseMac, Rtnl } from "../../lib/network/link.ts";

const ZERO16 = new Array(16).fill(0);
/** "veth0\0" and "veth1\0" as bytes. */
const VETH0 = [0x76, 0x65, 0x74, 0x68, 0x30, 0];
const VETH1 = [0x76, 0x65, 0x74, 0x68, 0x31, 0];

/** RTM_NEWLINK creating the pair veth0 ↔ veth1, seq 1, as ctr encodes it: 96 bytes. */
const NEWLINK_VETH = Uint8Array.from([
  // nlmsghdr: len 96, RTM_NEWLINK (16), REQUEST|ACK|EXCL|CREATE (0x605), seq 1, pid 0
  ...[0x60, 0, 0, 0, 0x10, 0, 0x05, 0x06, 1, 0, 0, 0, 0, 0, 0, 0],
  ...ZERO16, // ifinfomsg: AF_UNSPEC, index 0, no flags
  ...[10, 0, 3, 0, ...VETH0, 0, 0], // IFLA_IFNAME "veth0": len 10, padded to 12
  ...[52, 0, 18, 0], // IFLA_LINKINFO: len 4 + 12 + 36
  ...[9, 0, 1, 0, 0x76, 0x65, 0x74, 0x68, 0, 0, 0, 0], //   IFLA_INFO_KIND "veth": len 9, padded
  ...[36, 0, 2, 0], //   IFLA_INFO_DATA: len 4 + 32
  ...[32, 0, 1, 0], //     VETH_INFO_PEER: len 4 + ifinfomsg 16 + 12
  ...ZERO16, //       the peer's ifinfomsg
  ...[10, 0, 3, 0, ...VETH1, 0, 0], //       IFLA_IFNAME "veth1"
]);

/** The same request recorded from iproute2 6.1 (`ip link add veth0 type veth peer name veth1`, strace -xx): the kind has no NUL. */
const NEWLINK_VETH_IPROUTE2 = Uint8Array.from([
  ...[0x5c, 0, 0, 0, 0x10, 0, 0x05, 0x06, 0xf8, 0x14, 0x04, 0x6b, 0, 0, 0, 0],
  ...ZERO16,
  ...[10, 0, 3, 0, ...VETH0, 0, 0],
  ...[48, 0, 18, 0],
  ...[8, 0, 1, 0, 0x76, 0x65, 0x74, 0x68],
  ...[36, 0, 2, 0, 32, 0, 1, 0, ...ZERO16, 10, 0, 3, 0, ...VETH1, 0, 0],
]);

/** The kernel's NLMSG_ERROR -EEXIST to that request, capped (NETLINK_CAP_ACK): 36 bytes. */
const ERROR_EEXIST = Uint8Array.from([
  // nlmsghdr: len 36, NLMSG_ERROR, NLM_F_CAPPED (0x100), seq 1, pid 12345
  ...[0x24, 0, 0, 0, 2, 0, 0x00, 0x01, 1, 0, 0, 0, 0x39, 0x30, 0, 0],
  ...[0xef, 0xff, 0xff, 0xff], // error: -17
  ...[0x60, 0, 0, 0, 0x10, 0, 0x05, 0x06, 1, 0, 0, 0, 0, 0, 0, 0], // the request's header
]);

/** A dump reply: two links (lo, br0) with NLM_F_MULTI, then NLMSG_DONE, seq 7. */
const LINK_DUMP = Uint8Array.from([
  // RTM_NEWLINK, len 40: ifinfomsg{type 772, index 1, flags UP|LOOPBACK|RUNNING|LOWER_UP}, IFLA_IFNAME "lo"
  ...[40, 0, 0, 0, 16, 0, 2, 0, 7, 0, 0, 0, 0x39, 0x30, 0, 0],
  ...[0, 0, 0x04, 0x03, 1, 0, 0, 0, 0x49, 0, 1, 0, 0, 0, 0, 0],
  ...[7, 0, 3, 0, 0x6c, 0x6f, 0, 0], // len 7, one byte of padding
  // RTM_NEWLINK, len 48: index 2, flags BROADCAST|MULTICAST, IFLA_IFNAME "br0", IFLA_MTU 1500
  ...[48, 0, 0, 0, 16, 0, 2, 0, 7, 0, 0, 0, 0x39, 0x30, 0, 0],
  ...[0, 0, 1, 0, 2, 0, 0, 0, 0x02, 0x10, 0, 0, 0, 0, 0, 0],
  ...[8, 0, 3, 0, 0x62, 0x72, 0x30, 0],
  ...[8, 0, 4, 0, 0xdc, 0x05, 0, 0],
  // NLMSG_DONE, len 20, NLM_F_MULTI, payload: int 0
  ...[20, 0, 0, 0, 3, 0, 2, 0, 7, 0, 0, 0, 0x39, 0x30, 0, 0, 0, 0, 0, 0],
]);

Deno.test("encodeMessage() builds the veth-pair RTM_NEWLINK byte for byte", () => {
  const peer = linkPayload({}, rtaString(IFLA.IFNAME, "veth1"));
  const payload = linkPayload(
    {},
    rtaString(IFLA.IFNAME, "veth0"),
    rtaNest(
      IFLA.LINKINFO,
      rtaString(IFLA_INFO.KIND, "veth"),
      rtaNest(IFLA_INFO.DATA, rta(VETH_INFO.PEER, peer)),
    ),
  );
  const flags = NLM_F.REQUEST | NLM_F.ACK | NLM_F_NEW.CREATE | NLM_F_NEW.EXCL;
  const bytes = encodeMessage({ type: RTM.NEWLINK, flags, seq: 1, pid: 0, payload });
  assert.deepEqual(bytes, NEWLINK_VETH);
});

Deno.test("decodeLink() reads nested IFLA_LINKINFO down to the veth peer's ifinfomsg", () => {
  for (const fixture of [NEWLINK_VETH, NEWLINK_VETH_IPROUTE2]) {
    const [m] = decodeMessages(fixture);
    assert.equal(m.type, RTM.NEWLINK);
    assert.equal(m.flags, 0x605);
    const { ifi, attrs } = decodeLink(m.payload);
    assert.deepEqual(ifi, { family: 0, type: 0, index: 0, flags: 0, change: 0 });
    assert.equal(attrs.string(IFLA.IFNAME), "veth0");
    const info = attrs.nested(IFLA.LINKINFO)!;
    assert.equal(info.string(IFLA_INFO.KIND), "veth", "with or without a NUL");
    const peer = decodeLink(info.nested(IFLA_INFO.DATA)!.get(VETH_INFO.PEER)!);
    assert.equal(peer.ifi.index, 0);
    assert.equal(peer.attrs.string(IFLA.IFNAME), "veth1");
  }
  assert.equal(decodeMessages(NEWLINK_VETH_IPROUTE2)[0].seq, 1795429624);
});

Deno.test("formatMessage() names types, flags and nested attributes", () => {
  assert.equal(
    formatMessage(decodeMessages(NEWLINK_VETH)[0]),
    "RTM_NEWLINK NLM_F_REQUEST|NLM_F_ACK|NLM_F_EXCL|NLM_F_CREATE seq=1 pid=0 " +
      "ifinfomsg{family=AF_UNSPEC type=0 index=0 flags=0 change=0} " +
      'IFLA_IFNAME="veth0" IFLA_LINKINFO{IFLA_INFO_KIND="veth" IFLA_INFO_DATA{VETH_INFO_PEER{' +
      'ifinfomsg{family=AF_UNSPEC type=0 index=0 flags=0 change=0} IFLA_IFNAME="veth1"}}}',
  );
  assert.equal(
    formatMessage(decodeMessages(ERROR_EEXIST)[0]),
    "NLMSG_ERROR NLM_F_CAPPED seq=1 pid=12345 error=EEXIST (File exists) request=RTM_NEWLINK",
  );
  const [lo, br0, done] = decodeMessages(LINK_DUMP);
  assert.match(formatMessage(lo), /flags=IFF_UP\|IFF_LOOPBACK\|IFF_RUNNING\|IFF_LOWER_UP /);
  assert.match(formatMessage(br0), /IFLA_IFNAME="br0" IFLA_MTU=1500$/);
  assert.equal(formatMessage(done), "NLMSG_DONE NLM_F_MULTI seq=7 pid=12345");
  assert.equal(
    nlmFlagNames(RTM.GETLINK, NLM_F.REQUEST | NLM_F_GET.DUMP),
    "NLM_F_REQUEST|NLM_F_DUMP",
  );
  assert.equal(nameOf(RTM, 16, "RTM_"), "RTM_NEWLINK");
  assert.equal(nameOf(IFLA, 999, "IFLA_"), "IFLA_#999");
});

Deno.test("decodeError() turns NLMSG_ERROR -EEXIST into EEXIST and its request", () => {
  const [m] = decodeMessages(ERROR_EEXIST);
  assert.equal(m.type, NLMSG.ERROR);
  const e = decodeError(m.payload, m.flags);
  assert.equal(e.errno, 17);
  assert.equal(errnoName(e.errno), "EEXIST");
  assert.deepEqual(e.request, { len: 96, type: RTM.NEWLINK, flags: 0x605, seq: 1, pid: 0 });
  assert.equal(e.message, undefined);
  const reply = new ReplyCollector(1, false);
  assert.equal(reply.feed(ERROR_EEXIST), true);
  assert.equal(reply.error?.errno, 17);
  assert.equal(
    new NetlinkError("create bridge", reply.error!, "ctr0").message,
    "create bridge ctr0: EEXIST (File exists)",
  );
});

Deno.test("decodeError() reads the extended ack: message and attribute offset", () => {
  // Capped, with NLMSGERR_ATTR_MSG "bad mtu": flags CAPPED|ACK_TLVS (0x300), len 48.
  const capped = Uint8Array.from([
    ...[48, 0, 0, 0, 2, 0, 0x00, 0x03, 9, 0, 0, 0, 0, 0, 0, 0],
    ...[0xea, 0xff, 0xff, 0xff], // -EINVAL
    ...[0x20, 0, 0, 0, 19, 0, 5, 0, 9, 0, 0, 0, 0, 0, 0, 0],
    ...[12, 0, 1, 0, 0x62, 0x61, 0x64, 0x20, 0x6d, 0x74, 0x75, 0], // "bad mtu\0"
  ]);
  const [m] = decodeMessages(capped);
  const e = decodeError(m.payload, m.flags);
  assert.equal(e.errno, 22);
  assert.equal(e.message, "bad mtu");
  assert.equal(
    new NetlinkError("set mtu", e, "eth0").message,
    "set mtu eth0: EINVAL (Invalid argument): bad mtu",
  );
  // Not capped: the request (len 20: header and 4 bytes) is echoed, then NLMSGERR_ATTR_OFFS 16.
  const echoed = Uint8Array.from([
    ...[48, 0, 0, 0, 2, 0, 0x00, 0x02, 9, 0, 0, 0, 0, 0, 0, 0],
    ...[0xea, 0xff, 0xff, 0xff],
    ...[20, 0, 0, 0, 19, 0, 5, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
    ...[8, 0, 2, 0, 16, 0, 0, 0],
  ]);
  const [m2] = decodeMessages(echoed);
  assert.deepEqual(
    { ...decodeError(m2.payload, m2.flags), request: undefined },
    { errno: 22, message: undefined, offset: 16, request: undefined },
  );
});

Deno.test("ReplyCollector gathers a multi-part dump until NLMSG_DONE, across datagrams", () => {
  const all = new ReplyCollector(7, true);
  assert.equal(all.feed(LINK_DUMP), true);
  assert.equal(all.messages.length, 2);
  assert.equal(all.error, undefined);
  const [lo, br0] = all.messages.map((m) => decodeLink(m.payload));
  assert.equal(lo.attrs.string(IFLA.IFNAME), "lo");
  assert.equal(lo.ifi.type, 772);
  assert.equal(lo.ifi.flags, 0x10049);
  assert.equal(br0.ifi.index, 2);
  assert.equal(br0.attrs.u32(IFLA.MTU), 1500);

  const parts = new ReplyCollector(7, true);
  assert.equal(parts.feed(LINK_DUMP.subarray(0, 40)), false);
  const stale = encodeMessage({
    type: RTM.NEWLINK,
    flags: 2,
    seq: 6,
    pid: 0,
    payload: encodeIfinfomsg(),
  });
  assert.equal(parts.feed(stale), false, "another request's reply is left out");
  assert.equal(parts.feed(LINK_DUMP.subarray(40)), true);
  assert.equal(parts.messages.length, 2);

  const intr = LINK_DUMP.slice();
  intr[6] |= NLM_F.DUMP_INTR;
  const flagged = new ReplyCollector(7, true);
  flagged.feed(intr);
  assert.equal(flagged.interrupted, true);

  const failed = LINK_DUMP.slice(88);
  new DataView(failed.buffer).setInt32(16, -16, true); // NLMSG_DONE carrying -EBUSY
  const doneErr = new ReplyCollector(7, true);
  assert.equal(doneErr.feed(failed), true);
  assert.equal(doneErr.error?.errno, 16);
});

Deno.test("ReplyCollector ends a request at its acknowledgement, keeping data before it", () => {
  const ack = Uint8Array.from([
    ...[36, 0, 0, 0, 2, 0, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0],
    ...[0, 0, 0, 0],
    ...[52, 0, 0, 0, 18, 0, 5, 0, 5, 0, 0, 0, 0, 0, 0, 0],
  ]);
  const link = encodeMessage({
    type: RTM.NEWLINK,
    flags: 0,
    seq: 5,
    pid: 0,
    payload: encodeIfinfomsg({ index: 3 }),
  });
  const r = new ReplyCollector(5, false);
  assert.equal(r.feed(link), false);
  assert.equal(r.feed(ack), true);
  assert.equal(r.error, undefined);
  assert.equal(r.messages.length, 1);
  assert.equal(decodeError(ack.subarray(16)).errno, 0);
});

Deno.test("attributes are padded to 4 bytes and rta_len excludes the padding", () => {
  assert.deepEqual(
    rtaString(IFLA.IFNAME, "eth0"),
    Uint8Array.from([9, 0, 3, 0, 0x65, 0x74, 0x68, 0x30, 0, 0, 0, 0]),
  );
  assert.deepEqual(rtaU8(IFLA.OPERSTATE, 6), Uint8Array.from([5, 0, 16, 0, 6, 0, 0, 0]));
  assert.deepEqual(rtaU32(IFLA.MTU, 1500), Uint8Array.from([8, 0, 4, 0, 0xdc, 5, 0, 0]));
  const mac = rta(IFLA.ADDRESS, Uint8Array.from([2, 0, 0, 0, 0, 1]));
  assert.deepEqual(mac, Uint8Array.from([10, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 0]));
  assert.deepEqual(rta(IFLA.LINKINFO, new Uint8Array(0)), Uint8Array.from([4, 0, 18, 0]));
  assert.deepEqual([0, 1, 4, 5, 9].map(align4), [0, 4, 4, 8, 12]);

  const attrs = Attrs.parse(Uint8Array.from([
    ...rtaString(IFLA.IFNAME, "eth0"),
    ...rtaU8(IFLA.OPERSTATE, 6),
    ...mac,
    ...rtaNest(IFLA.LINKINFO | NLA_F.NESTED, rtaString(IFLA_INFO.KIND, "bridge")),
    ...rtaU32(IFLA.MTU, 1400),
    ...rtaU32(IFLA.MTU, 1500), // the last one of a type wins
  ]));
  assert.deepEqual(attrs.list.map((a) => a.type), [3, 16, 1, 18, 4, 4]);
  assert.equal(attrs.list[3].flags, NLA_F.NESTED);
  assert.equal(attrs.string(IFLA.IFNAME), "eth0");
  assert.equal(attrs.u8(IFLA.OPERSTATE), 6);
  assert.deepEqual([...attrs.get(IFLA.ADDRESS)!], [2, 0, 0, 0, 0, 1]);
  assert.equal(attrs.nested(IFLA.LINKINFO)!.string(IFLA_INFO.KIND), "bridge");
  assert.equal(attrs.u32(IFLA.MTU), 1500);
  assert.equal(attrs.u32(IFLA.MASTER), undefined);
});

Deno.test("malformed lengths throw NetlinkDecodeError naming the byte", () => {
  assert.throws(() => Attrs.parse(Uint8Array.from([12, 0, 3, 0, 1, 2])), NetlinkDecodeError);
  assert.throws(() => Attrs.parse(Uint8Array.from([2, 0, 3, 0])), /rta_len 2/);
  assert.throws(
    () => decodeMessages(NEWLINK_VETH.subarray(0, 50)),
    /byte 0: nlmsg_len 96, 50 bytes left/,
  );
  assert.throws(() => decodeError(new Uint8Array(8)), /Malformed nlmsgerr: 8 bytes, expected 20/);
  assert.throws(
    () => new Attrs([{ type: 4, flags: 0, value: Uint8Array.of(1) }]).u32(4),
    /expected 4/,
  );
});

Deno.test("ifaddrmsg and rtmsg encode and decode their fields", () => {
  const ifa = { family: 2, prefixLen: 24, flags: 0x80, scope: 253, index: 5 };
  assert.deepEqual(encodeIfaddrmsg(ifa), Uint8Array.from([2, 24, 0x80, 253, 5, 0, 0, 0]));
  assert.deepEqual(decodeIfaddrmsg(encodeIfaddrmsg(ifa)), ifa);
  const rtm = {
    family: 2,
    dstLen: 16,
    srcLen: 0,
    tos: 0,
    table: 254,
    protocol: 3,
    scope: 0,
    type: 1,
    flags: 0,
  };
  assert.deepEqual(encodeRtmsg(rtm), Uint8Array.from([2, 16, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0]));
  assert.deepEqual(decodeRtmsg(encodeRtmsg(rtm)), rtm);
  assert.deepEqual(
    encodeIfinfomsg({ index: 7, flags: 1, change: 1 }),
    Uint8Array.from([0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]),
  );
});

Deno.test("parseIp(), parseCidr() and formatAddress() handle IPv4 and IPv6", () => {
  assert.deepEqual([...parseIp("10.88.0.2").bytes], [10, 88, 0, 2]);
  for (
    const [text, out] of [
      ["fd00::1", "fd00::1"],
      ["::", "::"],
      ["::1", "::1"],
      ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
      ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
      ["FE80:0:0:0:0:0:0:1", "fe80::1"],
      ["::ffff:10.0.0.1", "::ffff:a00:1"],
    ]
  ) assert.equal(formatAddress(parseIp(text).bytes), out, text);
  for (
    const bad of [
      "10.0.0.256",
      "1.2.3",
      "1:::2",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "g::1",
      "",
      "0010.0.0.1",
    ]
  ) {
    assert.throws(() => parseIp(bad), /Invalid IP address/, bad);
  }
  assert.deepEqual({ ...parseCidr("10.0.0.0/8"), bytes: undefined }, {
    family: 2,
    prefixLen: 8,
    bytes: undefined,
  });
  assert.equal(parseCidr("fd00::2").prefixLen, 128);
  assert.throws(() => parseCidr("10.0.0.1/33"), /0 to 32/);
  assert.throws(() => parseCidr("10.0.0.1/8/8"), /Invalid CIDR/);
  assert.deepEqual([...parseMac("02:AA:00:00:00:01")], [2, 0xaa, 0, 0, 0, 1]);
  assert.throws(() => parseMac("02:aa:00:00:01"), /Invalid MAC/);
});

Deno.test("linkNameProblem() follows the kernel's rules for interface names", () => {
  assert.equal(linkNameProblem("ctr0"), undefined);
  assert.equal(linkNameProblem("abcdefghijklmno"), undefined, "15 bytes");
  assert.equal(linkNameProblem("abcdefghijklmnop"), "16 bytes, at most 15");
  assert.equal(linkNameProblem("ééééééééé"), "18 bytes, at most 15", "bytes, not characters");
  for (const bad of ["", ".", "..", "a/b", "a b", "a:b", "tab\there"]) {
    assert.ok(linkNameProblem(bad), bad);
  }
});

/** A socket double that records requests and answers GETLINK with index 5. */
class RecordingSocket {
  requests: NetlinkRequest[] = [];
  request(req: NetlinkRequest): NlMessage[] {
    this.requests.push(req);
    if (req.type !== RTM.GETLINK) return [];
    const name = decodeLink(req.payload).attrs.string(IFLA.IFNAME) ?? "";
    const payload = linkPayload({ index: 5 }, rtaString(IFLA.IFNAME, name));
    return [{ type: RTM.NEWLINK, flags: 0, seq: 1, pid: 0, payload }];
  }
  close() {}
}

Deno.test("Rtnl builds the veth request of the fixture, and address and route requests", () => {
  const sock = new RecordingSocket();
  const net = new Rtnl(sock);
  net.createVeth("veth0", "veth1");
  const [veth] = sock.requests;
  assert.equal(veth.type, RTM.NEWLINK);
  assert.equal(veth.flags, NLM_F_NEW.CREATE | NLM_F_NEW.EXCL);
  assert.deepEqual(veth.payload, NEWLINK_VETH.subarray(16));
  assert.equal(veth.op, "create veth");

  sock.requests = [];
  net.addAddress("eth0", "10.88.0.2/16");
  const addr = sock.requests.find((r) => r.type === RTM.NEWADDR)!;
  assert.deepEqual(
    addr.payload,
    Uint8Array.from([
      ...[2, 16, 0, 0, 5, 0, 0, 0], // ifaddrmsg: AF_INET /16, scope global, index 5
      ...[8, 0, 2, 0, 10, 88, 0, 2], // IFA_LOCAL
      ...[8, 0, 1, 0, 10, 88, 0, 2], // IFA_ADDRESS
      ...[8, 0, 4, 0, 10, 88, 255, 255], // IFA_BROADCAST
    ]),
  );
  assert.equal(addr.object, "10.88.0.2/16 to eth0");

  sock.requests = [];
  net.addRoute({ dst: "default", gateway: "10.88.0.1" });
  assert.deepEqual(
    sock.requests[0].payload,
    Uint8Array.from([2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0, 8, 0, 5, 0, 10, 88, 0, 1]),
  );
  net.addRoute({ dst: "10.1.0.0/16", dev: "eth0", metric: 100 });
  const route = sock.requests.find((r) => r.type === RTM.NEWROUTE && r.object?.includes("dev"))!;
  assert.deepEqual(
    route.payload.subarray(0, 12),
    Uint8Array.from([2, 16, 0, 0, 254, 3, 253, 1, 0, 0, 0, 0]),
  );
  assert.equal(route.object, "10.1.0.0/16 dev eth0");
  assert.throws(
    () => net.addRoute({ dst: "fd00::/64", gateway: "10.0.0.1" }),
    /another address family/,
  );
});

Deno.test("Rtnl rejects bad names, MTUs and MACs before sending anything", () => {
  const sock = new RecordingSocket();
  const net = new Rtnl(sock);
  assert.throws(
    () => net.createBridge("abcdefghijklmnop"),
    /^Error: Cannot create bridge: invalid link name "abcdefghijklmnop": 16 bytes, at most 15$/,
  );
  assert.throws(
    () => net.createVeth("veth0", "vethabcdefgh0123456"),
    /invalid link name "vethabcdefgh0123456"/,
  );
  assert.throws(
    () => net.rename("eth0", "a/b"),
    /Cannot rename link eth0: invalid link name "a\/b"/,
  );
  assert.throws(() => net.setMtu("eth0", 10), /invalid MTU 10/);
  assert.throws(() => net.setMac("eth0", "zz"), /Invalid MAC/);
  assert.throws(() => net.addAddress("eth0", "10.0.0.1/40"), /Invalid prefix/);
  assert.throws(() => net.moveToNetns("eth0", { pid: -1 }), /Invalid pid/);
  assert.equal(sock.requests.length, 0);
});
