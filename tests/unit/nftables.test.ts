/**
 * The nf_tables codec (ffi/nftables.ts) and the statements and transactions
 * of lib/network/nft.ts on recorded bytes: what nft 1.0.6 sends for ctr's
 * table and rules (tests/fixtures/nftables/*.nft-1.0.6.hex, recorded with
 * strace by scripts/nft_fixtures.ts), what it prints of their expressions
 * (--debug=netlink), and what Linux answers (a rule dump, acknowledgements,
 * an error). No root, no kernel.
 */
import assert from "node:assert/strict";
import {
  Attrs,
  BatchCollector,
  decodeError,
  decodeMessages,
  encodeMessage,
  NLM_F,
  type NlMessage,
  NLMSG,
  ReplyCollector,
  rtaBe32,
  rtaBe64,
} from "../../ffi/netlink.ts";
import { concat } from "../../ffi/bytes.ts";
import { NetlinkError } from "../../ffi/netlink_socket.ts";
import {
  batchBegin,
  batchEnd,
  commentOf,
  commentUserdata,
  decodeExpr,
  decodeNfgenmsg,
  decodeRule,
  encodeExpr,
  encodeNfgenmsg,
  type Expr,
  formatExpr,
  formatWords,
  NF_NAT_RANGE,
  NFPROTO,
  NFT_MSG,
  nftMessageName,
  nftType,
} from "../../ffi/nftables.ts";
import {
  type ContainerRules,
  nftRuleChanges,
  nftRuleCommands,
  nftRules,
  nftTableChanges,
  nftTableCommands,
} from "../../lib/network/nat.ts";
import {
  accept,
  type Change,
  counter,
  ctStateNotIn,
  dnatTo,
  dport,
  ifnameBytes,
  iifname,
  ipDaddr,
  ipSaddr,
  jump,
  oifname,
  parseIpv4Prefix,
  ruleText,
  transaction,
} from "../../lib/network/nft.ts";

const FIXTURES = new URL("../fixtures/nftables/", import.meta.url);
const CONTAINER: ContainerRules = JSON.parse(
  Deno.readTextFileSync(new URL("container.json", FIXTURES)),
);
const TABLE = { family: "ip", table: "ctrrec" } as const;

/** The paragraphs of hex bytes of a fixture file (`#` lines are comments). */
function hexParagraphs(name: string): Uint8Array[] {
  const text = Deno.readTextFileSync(new URL(name, FIXTURES));
  return text.split("\n").filter((l) => !l.startsWith("#")).join("\n").trim().split(/\n\s*\n/)
    .map((p) => Uint8Array.from(p.trim().split(/\s+/).map((h) => parseInt(h, 16))));
}

/** The messages of a transaction as nft numbers them: the batch's begin is 0, then 1, 2, ... */
function encodeAsNft(changes: Change[]): Uint8Array[] {
  const msgs = [batchBegin(), ...transaction(TABLE, changes)];
  return msgs.map((m, seq) =>
    encodeMessage({ type: m.type, flags: m.flags | NLM_F.REQUEST, seq, pid: 0, payload: m.payload })
  );
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}

Deno.test("transaction() encodes ctr's table and a container's rules byte for byte as nft 1.0.6", () => {
  const recorded = hexParagraphs("ctr_rules.nft-1.0.6.hex");
  const ours = encodeAsNft([...nftTableChanges(), ...nftRuleChanges(CONTAINER)]);
  assert.equal(ours.length, recorded.length, "begin, table, 5 chains, 10 rules and one set (2)");
  ours.forEach((b, i) => assert.equal(hex(b), hex(recorded[i]), `message ${i}`));
  const types = recorded.flatMap((b) => decodeMessages(b)).map((m) => nftMessageName(m.type));
  assert.deepEqual(types.slice(0, 3), [
    "NFNL_MSG_BATCH_BEGIN",
    "NFT_MSG_NEWTABLE",
    "NFT_MSG_NEWCHAIN",
  ]);
  assert.deepEqual(types.slice(-3), ["NFT_MSG_NEWSET", "NFT_MSG_NEWSETELEM", "NFT_MSG_NEWRULE"]);
});

Deno.test("transaction() encodes prefixes, counter, jump, wildcards and deletions as nft does", () => {
  const recorded = hexParagraphs("other.nft-1.0.6.hex");
  const ours = encodeAsNft([
    {
      add: "rule",
      chain: "input",
      statements: [ipDaddr("10.112.0.0/12"), counter(), jump("postrouting")],
    },
    { add: "rule", chain: "forward", statements: [iifname("veth*"), accept()] },
    { delete: "rule", chain: "forward", handle: 7 },
    { delete: "table" },
  ]);
  assert.equal(ours.length, recorded.length);
  ours.forEach((b, i) => assert.equal(hex(b), hex(recorded[i]), `message ${i}`));
});

Deno.test("formatExpr() prints each of ctr's rules as nft --debug=netlink does", () => {
  const text = Deno.readTextFileSync(new URL("ctr_rules.nft-1.0.6.netlink.txt", FIXTURES));
  // "ip ctrrec CHAIN" then "  [ ... ]" lines: one block per rule.
  const blocks: { chain: string; lines: string[] }[] = [];
  for (const line of text.split("\n")) {
    const head = /^ip ctrrec (\w+)$/.exec(line);
    if (head) blocks.push({ chain: head[1], lines: [] });
    else if (line.startsWith("  [") && blocks.length) blocks.at(-1)!.lines.push(line.trim());
  }
  const ours = nftRules(CONTAINER).map((r) => ({
    chain: r.chain,
    lines: r.statements.flatMap((s) => s.exprs).map(formatExpr),
  }));
  assert.deepEqual(ours, blocks);
});

Deno.test("nftRuleCommands() and nftTableCommands() are the same rules in nft's words", () => {
  const c = `comment "ctr:c0ffee"`;
  assert.deepEqual(nftRuleCommands("ctr", CONTAINER).slice(-3), [
    `add rule ip ctr output ip daddr 127.0.0.1 tcp dport 9000 dnat to 10.123.0.2:90 ${c}`,
    `add rule ip ctr postrouting ip saddr 127.0.0.0/8 ip daddr 10.123.0.2 oifname "ctr0" masquerade ${c}`,
    `add rule ip ctr input iifname "ctr0" ip daddr 127.0.0.0/8 ct state != { established, related } drop ${c}`,
  ]);
  assert.deepEqual(nftTableCommands("ctr"), [
    "add table ip ctr",
    "add chain ip ctr prerouting { type nat hook prerouting priority -100; policy accept; }",
    "add chain ip ctr output { type nat hook output priority -100; policy accept; }",
    "add chain ip ctr postrouting { type nat hook postrouting priority 100; policy accept; }",
    "add chain ip ctr forward { type filter hook forward priority 0; policy accept; }",
    "add chain ip ctr input { type filter hook input priority 0; policy accept; }",
  ]);
  assert.ok(
    nftRuleChanges(CONTAINER).every((ch) => "comment" in ch && ch.comment === "ctr:c0ffee"),
  );
});

Deno.test("decodeRule() reads Linux's rule dump: chains, handles, comments, expressions", () => {
  const reply = new ReplyCollector(0, true);
  const datagrams = hexParagraphs("ctr_rules_dump.linux-6.18.44.hex");
  datagrams.forEach((d, i) => assert.equal(reply.feed(d), i === datagrams.length - 1));
  assert.equal(reply.error, undefined);
  const rules = reply.messages.map((m) => {
    assert.equal(m.type, nftType(NFT_MSG.NEWRULE));
    return decodeRule(m.payload);
  });
  assert.deepEqual(
    rules.map((r) => `${r.family} ${r.table} ${r.chain} ${r.handle} ${r.comment}`),
    [
      "2 ctrrec prerouting 8 ctr:c0ffee",
      "2 ctrrec prerouting 10 ctr:c0ffee",
      "2 ctrrec output 9 ctr:c0ffee",
      "2 ctrrec output 11 ctr:c0ffee",
      "2 ctrrec output 12 ctr:c0ffee",
      "2 ctrrec output 13 ctr:c0ffee",
      "2 ctrrec postrouting 7 ctr:c0ffee",
      "2 ctrrec postrouting 14 ctr:c0ffee",
      "2 ctrrec forward 6 ctr:c0ffee",
      "2 ctrrec input 16 ctr:c0ffee",
    ],
  );
  // The kernel answers with what it was given, but for two things it fills in: NAT with an
  // address register gets NF_NAT_RANGE_MAP_IPS, and the anonymous set has its name.
  const sent = nftRules(CONTAINER).map((r) => ({
    chain: r.chain,
    exprs: r.statements.flatMap((s) => s.exprs).map((e): Expr =>
      e.type === "nat" ? { ...e, flags: (e.flags ?? 0) | NF_NAT_RANGE.MAP_IPS } : e
    ).map((e) => formatExpr(e).replace("__set%d", "__set0")),
  }));
  const dumped = rules.map((r) => ({ chain: r.chain, exprs: r.exprs.map(formatExpr) }));
  const byChain = (l: typeof sent) => l.toSorted((a, b) => a.chain.localeCompare(b.chain));
  assert.deepEqual(byChain(dumped), byChain(sent));
});

Deno.test("encodeExpr() and decodeExpr() round-trip every expression ctr writes", () => {
  const exprs = [...nftRules(CONTAINER), { statements: [counter(), jump("x"), accept()] }]
    .flatMap((r) => r.statements.flatMap((s) => s.exprs));
  assert.ok(new Set(exprs.map((e) => e.type)).size >= 11, "meta cmp payload bitwise fib ct ...");
  for (const e of exprs) {
    const back = decodeExpr(Attrs.parse(encodeExpr(e)).list[0].value);
    assert.equal(formatExpr(back), formatExpr(e));
  }
  const unknown = decodeExpr(
    Attrs.parse(encodeExpr({ type: "other", name: "quota", data: rtaBe32(1, 5) })).list[0].value,
  );
  assert.equal(unknown.type, "other");
  assert.equal(formatExpr(unknown), "[ quota (8 bytes) ]");
  // `meta mark set`: a source register and no destination, a form ctr never writes.
  const metaSet = decodeExpr(
    Attrs.parse(
      encodeExpr({ type: "other", name: "meta", data: concat(rtaBe32(2, 3), rtaBe32(3, 1)) }),
    )
      .list[0].value,
  );
  assert.deepEqual([metaSet.type, formatExpr(metaSet)], ["other", "[ meta (16 bytes) ]"]);
});

/** Recorded from Linux 6.18: the acknowledgements of NEWTABLE and NEWCHAIN (seq 0x61eae921, 0x61eae922). */
const ACKS = [
  "24 00 00 00 02 00 00 01 21 e9 ea 61 c8 77 00 00 00 00 00 00 2c 00 00 00 00 0a 05 00 21 e9 ea 61 00 00 00 00",
  "24 00 00 00 02 00 00 01 22 e9 ea 61 c8 77 00 00 00 00 00 00 58 00 00 00 03 0a 05 04 22 e9 ea 61 00 00 00 00",
].map((h) => Uint8Array.from(h.split(" ").map((x) => parseInt(x, 16))));
/** Recorded from Linux 6.18: NEWRULE into a missing chain refused, ENOENT, extended ack offset 36. */
const ERROR_ENOENT = Uint8Array.from(
  ("2c 00 00 00 02 00 00 03 25 e9 ea 61 c8 77 00 00 fe ff ff ff 58 00 00 00 06 0a 05 0c " +
    "25 e9 ea 61 00 00 00 00 08 00 02 00 24 00 00 00").split(" ").map((x) => parseInt(x, 16)),
);

Deno.test("BatchCollector waits for each acknowledgement and keeps errors by message", () => {
  const acks = new BatchCollector([0x61eae921, 0x61eae922]);
  assert.equal(acks.feed(ACKS[0]), false);
  assert.equal(acks.feed(ACKS[1]), true);
  assert.equal(acks.errors.size, 0);

  const failed = new BatchCollector([0x61eae925]);
  assert.equal(failed.feed(ERROR_ENOENT), true);
  const e = failed.errors.get(0x61eae925)!;
  assert.equal(e.errno, 2);
  assert.equal(e.offset, 36, "the kernel points at NFTA_RULE_CHAIN");
  assert.equal(e.request.type, nftType(NFT_MSG.NEWRULE));
  assert.equal(
    new NetlinkError("nf_tables: add rule to ip ctrnftrec nochain", e).message,
    "nf_tables: add rule to ip ctrnftrec nochain: ENOENT (No such file or directory)",
  );

  // A failed commit is reported on the batch's begin, which asked for no acknowledgement.
  const begin: NlMessage = { ...batchBegin(), seq: 40, pid: 0 };
  const commitError = encodeMessage({
    type: NLMSG.ERROR,
    flags: 0,
    seq: 40,
    pid: 0,
    payload: Uint8Array.of(0xf0, 0xff, 0xff, 0xff, ...encodeMessage(begin).subarray(0, 16)),
  });
  const commit = new BatchCollector([41]);
  assert.equal(commit.feed(commitError), false);
  assert.equal(commit.errors.get(40)?.errno, 16);
  assert.equal(decodeError(decodeMessages(commitError)[0].payload).request.seq, 40);
});

Deno.test("commentUserdata() is nft's comment TLV and commentOf() reads it back", () => {
  const u = commentUserdata("ctr:c0ffee");
  assert.equal(hex(u), "00 0b 63 74 72 3a 63 30 66 66 65 65 00");
  assert.equal(commentOf(u), "ctr:c0ffee");
  assert.equal(commentOf(Uint8Array.of(5, 1, 9)), undefined, "another TLV only");
  assert.throws(() => commentUserdata("x".repeat(200)), /Rule comment too long: 200 bytes/);
});

Deno.test("nfgenmsg, batch markers and network-order attributes", () => {
  assert.equal(hex(encodeNfgenmsg(NFPROTO.IPV4)), "02 00 00 00");
  assert.deepEqual(decodeNfgenmsg(Uint8Array.of(2, 0, 0x01, 0x74)), {
    family: 2,
    version: 0,
    resId: 372,
  });
  assert.equal(
    hex(batchBegin().payload),
    "00 00 00 0a",
    "res_id: NFNL_SUBSYS_NFTABLES, big-endian",
  );
  assert.equal(batchEnd().type, 0x11);
  assert.equal(hex(rtaBe32(3, 0xffffff9c)), "08 00 03 00 ff ff ff 9c", "priority -100");
  const a = Attrs.parse(Uint8Array.of(...rtaBe32(1, 258), ...rtaBe64(2, 7n)));
  assert.deepEqual([a.be32(1), a.be64(2), a.u32(1)], [258, 7n, 0x02010000]);
  assert.equal(formatWords(Uint8Array.of(0x1f, 0x90)), "0x0000901f");
});

Deno.test("statements refuse what nft would not take, before anything is sent", () => {
  assert.equal(hex(ifnameBytes("ctr*")), "63 74 72", "a prefix, without a NUL");
  assert.equal(ifnameBytes("ctr0").length, 16, "IFNAMSIZ");
  assert.throws(() => ifnameBytes("*"), /Invalid interface name for a rule: "\*"/);
  assert.throws(() => ifnameBytes('ctr0" drop'), /Invalid interface name/);
  assert.throws(() => ifnameBytes("x".repeat(16)), /Invalid interface name/);
  assert.deepEqual(parseIpv4Prefix("10.112.0.0/12").len, 12);
  assert.throws(() => parseIpv4Prefix("10.0.0.1/8"), /has host bits set/);
  assert.throws(() => parseIpv4Prefix("10.0.0.256"), /Invalid IPv4 address or prefix/);
  assert.throws(() => dport("tcp", 0), /Invalid port for a rule: 0/);
  assert.throws(() => dnatTo("10.0.0.0/8", 80), /Invalid DNAT address/);
  assert.throws(() => jump("x; flush ruleset"), /Invalid nf_tables chain name/);
  assert.throws(
    () => transaction({ family: "ip", table: "ctr ruleset" }, [{ add: "table" }]),
    /Invalid nf_tables table name: "ctr ruleset"/,
  );
  assert.equal(
    ruleText([ipSaddr("10.0.0.2"), oifname("ctr0", "!="), ipDaddr("127.0.0.0/8")], "ctr:1"),
    'ip saddr 10.0.0.2 oifname != "ctr0" ip daddr 127.0.0.0/8 comment "ctr:1"',
  );
});

Deno.test("transaction() numbers anonymous sets and names each message for errors", () => {
  const rule = (chain: string): Change => ({
    add: "rule",
    chain,
    statements: [ctStateNotIn(["established", "related"]), accept()],
  });
  const msgs = transaction({ family: "ip", table: "t" }, [{ add: "table" }, rule("a"), rule("b")]);
  assert.deepEqual(msgs.map((m) => m.op), [
    "add table ip t",
    "add the set of a rule to ip t a",
    "add the set elements of a rule to ip t a",
    "add rule to ip t a",
    "add the set of a rule to ip t b",
    "add the set elements of a rule to ip t b",
    "add rule to ip t b",
  ]);
  const lookups = [msgs[3], msgs[6]].map((m) =>
    decodeRule(m.payload).exprs.find((e) => e.type === "lookup")
  );
  assert.deepEqual(lookups.map((l) => l?.type === "lookup" && l.setId), [1, 2]);
  assert.deepEqual(msgs.map((m) => m.flags), [0, 0x400, 0x400, 0xc00, 0x400, 0x400, 0xc00]);
});
