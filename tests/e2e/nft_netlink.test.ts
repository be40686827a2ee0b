/**
 * lib/network/nft.ts on the real kernel (root), with the `nft` program as the
 * oracle: ctr's rules written over netlink list exactly as the same rules
 * added by nft; rules found by comment are deleted by handle; a refused
 * change names itself and leaves nothing behind. Every test works in tables
 * of its own (`ip ctrtest<random>`), created dormant, so that no packet ever
 * meets their rules, and deletes them.
 */
import assert from "node:assert/strict";
import { rootTest } from "../_helpers.ts";
import {
  type ContainerRules,
  findTool,
  nftRuleChanges,
  nftRuleCommands,
  nftTableChanges,
  nftTableCommands,
} from "../../lib/network/nat.ts";
import { accept, type Change, iifname, Nftables, type Table } from "../../lib/network/nft.ts";

const dec = new TextDecoder();
const rand = () =>
  [...crypto.getRandomValues(new Uint8Array(3))].map((b) => b.toString(16)).join("");

/** Two containers with every kind of rule ctr writes; bridges and addresses no host has. */
function containers(sfx: string): ContainerRules[] {
  const bridge = `ctrt${sfx}`;
  return [
    {
      containerId: `a${sfx}`,
      bridge,
      ip: "10.251.0.2",
      masquerade: true,
      loopback: true,
      ports: [
        { hostPort: 8080, containerPort: 80, protocol: "tcp" },
        { hostIp: "192.0.2.2", hostPort: 5353, containerPort: 53, protocol: "udp" },
        { hostIp: "127.0.0.1", hostPort: 9000, containerPort: 90, protocol: "tcp" },
      ],
    },
    { containerId: `b${sfx}`, bridge, ip: "10.251.0.3", masquerade: false, ports: [] },
  ];
}

/** Runs nft: whether it succeeded, its output and its error. */
function nftSync(args: string[]): { ok: boolean; out: string; err: string } {
  const r = new Deno.Command("nft", { args, stdout: "piped", stderr: "piped" }).outputSync();
  return { ok: r.success, out: dec.decode(r.stdout), err: dec.decode(r.stderr).trim() };
}

/** Runs `nft -f FILE` on a script. */
function nftScript(script: string): void {
  const file = Deno.makeTempFileSync({ suffix: ".nft" });
  try {
    Deno.writeTextFileSync(file, script);
    const r = nftSync(["-f", file]);
    assert.ok(r.ok, r.err);
  } finally {
    Deno.removeSync(file);
  }
}

/** The rules of a table as `nft -j -a list table` gives them. */
function listedRules(t: Table): { chain: string; handle: number; comment?: string }[] {
  const r = nftSync(["-j", "-a", "list", "table", t.family, t.table]);
  assert.ok(r.ok, r.err);
  return (JSON.parse(r.out).nftables as Record<string, any>[]).flatMap((o) =>
    o.rule ? [{ chain: o.rule.chain, handle: o.rule.handle, comment: o.rule.comment }] : []
  );
}

/** Runs `fn` with fresh table names and deletes those tables afterwards, whatever happens. */
async function withTables(
  fn: (tables: Table[]) => Promise<void> | void,
  count = 1,
): Promise<void> {
  const tables: Table[] = Array.from({ length: count }, (_, i) => ({
    family: "ip",
    table: `ctrtest${rand()}${i}`,
  }));
  try {
    await fn(tables);
  } finally {
    for (const t of tables) nftSync(["delete", "table", t.family, t.table]);
    const left = nftSync(["list", "tables"]).out;
    for (const t of tables) assert.doesNotMatch(left, new RegExp(`\\b${t.table}\\b`));
  }
}

const usable = Nftables.available({ family: "ip", table: "ctr" });
const hasNft = !!findTool("nft");

function nftTest(name: string, fn: () => Promise<void> | void): void {
  if (!usable || !hasNft) {
    const why = !usable ? "the kernel has no nf_tables" : "nft is not installed (the oracle)";
    Deno.test({ name: `${name} [skipped: ${why}]`, ignore: true, fn() {} });
    return;
  }
  rootTest(name, fn);
}

nftTest(
  "Nftables writes ctr's table and rules exactly as nft lists them when nft adds them",
  () =>
    withTables(([ours, theirs]) => {
      const sfx = rand();
      const cs = containers(sfx);
      using sock = Nftables.open();
      assert.equal(sock.tableExists(ours), false);
      sock.commit(ours, [
        { add: "table", dormant: true },
        ...nftTableChanges().slice(1),
        ...cs.flatMap(nftRuleChanges),
      ]);
      assert.equal(sock.tableExists(ours), true);
      nftScript(
        [
          `add table ip ${theirs.table} { flags dormant; }`,
          ...nftTableCommands(theirs.table).slice(1),
          ...cs.flatMap((c) => nftRuleCommands(theirs.table, c)),
        ].join("\n") + "\n",
      );

      const text = (t: Table) => nftSync(["list", "table", "ip", t.table]).out;
      assert.equal(text(ours).replace(ours.table, theirs.table), text(theirs));
      assert.match(text(ours), /ct state != \{ established, related \} drop comment "ctr:a/);
      assert.match(text(ours), /type nat hook postrouting priority srcnat; policy accept;/);

      const listed = listedRules(ours);
      assert.equal(listed.length, 11, "10 rules of a, 1 of b");
      assert.deepEqual(
        sock.rules(ours).map((r) => ({ chain: r.chain, handle: r.handle, comment: r.comment })),
        listed,
        "the dump and nft agree on chains, handles and comments",
      );
      assert.deepEqual(
        sock.rules(ours, "forward").map((r) => r.comment),
        [`ctr:a${sfx}`, `ctr:b${sfx}`],
      );
    }, 2),
);

nftTest(
  "Nftables deletes one container's rules by handle, and the table with the last",
  () =>
    withTables(([t]) => {
      const cs = containers(rand());
      using sock = Nftables.open();
      sock.commit(t, [
        { add: "table", dormant: true },
        ...nftTableChanges().slice(1),
        ...cs.flatMap(nftRuleChanges),
      ]);
      // Adding the table and chains again keeps what is in them.
      sock.commit(t, [{ add: "table", dormant: true }, ...nftTableChanges().slice(1)]);
      assert.equal(listedRules(t).length, 11);

      const mine = sock.rules(t).filter((r) => r.comment === `ctr:${cs[0].containerId}`);
      assert.equal(mine.length, 10);
      sock.commit(
        t,
        mine.map((r): Change => ({ delete: "rule", chain: r.chain, handle: r.handle })),
      );
      assert.deepEqual(listedRules(t).map((r) => `${r.chain} ${r.comment}`), [
        `forward ctr:${cs[1].containerId}`,
      ]);
      assert.equal(sock.rules(t).length, 1);

      sock.commit(t, [{ delete: "table" }]);
      assert.equal(sock.tableExists(t), false);
      assert.deepEqual(sock.rules(t), [], "a missing table has no rules");
      assert.equal(nftSync(["list", "table", "ip", t.table]).ok, false);
    }),
);

nftTest(
  "a refused change names itself and the transaction leaves nothing behind",
  () =>
    withTables(([t]) => {
      using sock = Nftables.open();
      sock.commit(t, [{ add: "table", dormant: true }, { add: "chain", chain: "forward" }]);
      const ok: Change = {
        add: "rule",
        chain: "forward",
        statements: [iifname("ctrt0"), accept()],
      };
      assert.throws(
        () => sock.commit(t, [ok, { add: "rule", chain: "nochain", statements: [accept()] }]),
        new RegExp(
          `^NetlinkError: nf_tables: add rule to ip ${t.table} nochain: ENOENT \\(No such file or directory\\)`,
        ),
      );
      assert.deepEqual(listedRules(t), [], "the first rule was not added either");
      assert.throws(
        () => sock.commit(t, [{ delete: "rule", chain: "forward", handle: 999999 }]),
        new RegExp(`nf_tables: delete rule ip ${t.table} forward handle 999999: ENOENT`),
      );
      const missing = { family: "ip", table: `${t.table}x` } as const;
      assert.throws(
        () => sock.commit(missing, [ok]),
        new RegExp(`nf_tables: add rule to ip ${missing.table} forward: ENOENT`),
      );
      assert.equal(sock.tableExists(missing), false);
      sock.commit(t, [ok]);
      assert.equal(listedRules(t).length, 1);
    }),
);
