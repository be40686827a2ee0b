/**
 * Records the nf_tables fixtures of tests/unit/nftables.test.ts from the real
 * tools (root; needs nft and strace):
 *
 *     deno run -A scripts/nft_fixtures.ts
 *
 * For ctr's table and the rules of tests/fixtures/nftables/container.json,
 * in nft's words (nat.ts's nftTableCommands and nftRuleCommands), it writes:
 * - ctr_rules.nft-VERSION.hex: the messages nft sends (`nft -c`: checked,
 *   never committed), from strace's dump of its sendmsg;
 * - ctr_rules.nft-VERSION.netlink.txt: `nft --debug=netlink` of the same;
 * - other.nft-VERSION.hex: a few more statements and the deletions;
 * - ctr_rules_dump.linux-VERSION.hex: the kernel's answer to a rule dump of
 *   a table holding those rules (added by nft, deleted right after; its base
 *   chains are attached for that moment, and match only the addresses of
 *   container.json).
 * @module
 */

import { nftRuleCommands, nftTableCommands } from "../lib/network/nat.ts";

const TABLE = "ctrrec";
const dir = new URL("../tests/fixtures/nftables/", import.meta.url).pathname;
const dec = new TextDecoder();
const container = JSON.parse(Deno.readTextFileSync(`${dir}container.json`));

function run(cmd: string, args: string[]): { ok: boolean; stdout: string; stderr: string } {
  const r = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  return { ok: r.success, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

function scriptFile(lines: string[]): string {
  const f = Deno.makeTempFileSync({ suffix: ".nft" });
  Deno.writeTextFileSync(f, lines.join("\n") + "\n");
  return f;
}

/** The buffers strace dumps (`-e write=FD` / `-e read=FD`) after `from`, as bytes. */
function straceBuffers(text: string, from = ""): number[][] {
  const out: number[][] = [];
  for (const line of text.slice(Math.max(0, text.indexOf(from))).split("\n")) {
    if (/^ \* \d+ bytes in buffer/.test(line)) out.push([]);
    const m = /^ \| [0-9a-f]{5} {2}(.{48})/.exec(line);
    if (m && out.length) out.at(-1)!.push(...m[1].trim().split(/\s+/).map((h) => parseInt(h, 16)));
  }
  return out;
}

/** 16 bytes a line. */
function hexLines(b: number[]): string {
  const lines: string[] = [];
  for (let i = 0; i < b.length; i += 16) {
    lines.push(b.slice(i, i + 16).map((x) => x.toString(16).padStart(2, "0")).join(" "));
  }
  return lines.join("\n");
}

/** The messages of nft's batch for a script, one paragraph each. */
function recordBatch(lines: string[]): string {
  const f = scriptFile(lines);
  const r = run("strace", ["-xx", "-e", "trace=sendmsg", "-e", "write=3", "nft", "-c", "-f", f]);
  Deno.removeSync(f);
  const batch = straceBuffers(r.stderr).reduce((a, b) => a.length >= b.length ? a : b, []);
  const dv = new DataView(Uint8Array.from(batch).buffer);
  const msgs: string[] = [];
  for (let off = 0; off + 16 <= batch.length;) {
    const len = (dv.getUint32(off, true) + 3) & ~3;
    msgs.push(hexLines(batch.slice(off, off + len)));
    off += len;
  }
  return msgs.join("\n\n");
}

const comment = (lines: string[]) => lines.map((l) => `#   ${l}`).join("\n");

if (run("nft", ["list", "table", "ip", TABLE]).ok) {
  console.error(`nft_fixtures.ts: table ip ${TABLE} exists; it is not this script's to change`);
  Deno.exit(1);
}
const nftVersion = /v(\d+\.\d+\.\d+)/.exec(run("nft", ["--version"]).stdout)?.[1] ?? "unknown";
const kernel = Deno.readTextFileSync("/proc/sys/kernel/osrelease").trim().split("-")[0];
const rules = [...nftTableCommands(TABLE), ...nftRuleCommands(TABLE, container)];
const other = [
  `add rule ip ${TABLE} input ip daddr 10.112.0.0/12 counter jump postrouting`,
  `add rule ip ${TABLE} forward iifname "veth*" accept`,
  `delete rule ip ${TABLE} forward handle 7`,
  `delete table ip ${TABLE}`,
];

Deno.writeTextFileSync(
  `${dir}ctr_rules.nft-${nftVersion}.hex`,
  `# The batch nft ${nftVersion} sends for ctr's table and the rules of container.json (nat.ts's
# nftTableCommands and nftRuleCommands, table ${TABLE}), recorded by scripts/nft_fixtures.ts with
#   strace -xx -e trace=sendmsg -e write=3 nft -c -f FILE
# (-c: checked, never committed, so the batch has no NFNL_MSG_BATCH_END). One message a paragraph;
# sequence numbers from 0 (the batch's begin). FILE:
${comment(rules)}

${recordBatch(rules)}
`,
);

Deno.writeTextFileSync(
  `${dir}other.nft-${nftVersion}.hex`,
  `# More of what nft ${nftVersion} sends: a prefix that is not whole bytes, counter, jump, a wildcard match
# with accept, a rule deleted by handle, a table deleted; recorded as ctr_rules.nft-${nftVersion}.hex. FILE:
${comment(other)}

${recordBatch(other)}
`,
);

{
  const f = scriptFile(rules);
  const r = run("nft", ["--debug=netlink", "-c", "-f", f]);
  Deno.removeSync(f);
  Deno.writeTextFileSync(
    `${dir}ctr_rules.nft-${nftVersion}.netlink.txt`,
    `# nft --debug=netlink -c -f FILE for the FILE of ctr_rules.nft-${nftVersion}.hex: each rule's expressions
# as libnftnl prints them (the chains and the anonymous set first).

${r.stdout}`,
  );
}

{
  const f = scriptFile(rules);
  const added = run("nft", ["-f", f]);
  Deno.removeSync(f);
  if (!added.ok) throw new Error(`nft -f: ${added.stderr}`);
  let r;
  try {
    r = run("strace", [
      ...["-xx", "-e", "trace=sendto,recvmsg", "-e", "read=3"],
      ...["nft", "-j", "list", "table", "ip", TABLE],
    ]);
  } finally {
    run("nft", ["delete", "table", "ip", TABLE]);
  }
  // The datagrams that answer GETRULE: up to the next request.
  const after = r.stderr.slice(r.stderr.indexOf("NFT_MSG_GETRULE"));
  const answer = after.slice(
    0,
    after.indexOf("\nsendto(") < 0 ? undefined : after.indexOf("\nsendto("),
  );
  Deno.writeTextFileSync(
    `${dir}ctr_rules_dump.linux-${kernel}.hex`,
    `# Linux ${kernel}'s answer to NFT_MSG_GETRULE with NLM_F_DUMP for table ip ${TABLE} holding the rules
# of ctr_rules.nft-${nftVersion}.hex (added by nft -f), recorded by scripts/nft_fixtures.ts with
#   strace -xx -e trace=sendto,recvmsg -e read=3 nft -j list table ip ${TABLE}
# One datagram a paragraph: the rules (NFT_MSG_NEWRULE, NLM_F_MULTI), then NLMSG_DONE.

${straceBuffers(answer).map(hexLines).join("\n\n")}
`,
  );
}
console.log(
  `nft_fixtures.ts: wrote the fixtures of nft ${nftVersion} and Linux ${kernel} in ${dir}`,
);
