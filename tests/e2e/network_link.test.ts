/**
 * rtnetlink on the real kernel, as root, inside network namespaces each test
 * makes (`unshare --net sleep`) and reaches with sockets opened in them: no
 * link of the host is touched, and no traffic is sent. `ip` cross-checks.
 */
import assert from "node:assert/strict";
import { rootTest } from "../_helpers.ts";
import { O } from "../../ffi/constants.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { NetlinkError, withNetns } from "../../ffi/netlink_socket.ts";
import { close, open } from "../../ffi/sys.ts";
import { type Link, Rtnl } from "../../lib/network/link.ts";

/** A network namespace held by a sleeping process. */
interface TestNetns {
  pid: number;
  stop(): Promise<void>;
}

const ownNetns = () => Deno.readLinkSync("/proc/thread-self/ns/net");
const hostLinks = () => [...Deno.readDirSync("/sys/class/net")].map((e) => e.name).sort();
const openFds = () => [...Deno.readDirSync("/proc/self/fd")].length;

async function newNetns(): Promise<TestNetns> {
  const own = ownNetns();
  const child = new Deno.Command("unshare", {
    args: ["--net", "sleep", "120"],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
  };
  for (let i = 0;; i++) {
    try {
      if (Deno.readLinkSync(`/proc/${child.pid}/ns/net`) !== own) break;
    } catch { /* not yet */ }
    if (i === 500) {
      await stop();
      throw new Error("unshare --net did not enter a new network namespace");
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return { pid: child.pid, stop };
}

/** Runs `fn` with `count` fresh namespaces; checks that the host and ctr's thread are untouched. */
async function withNamespaces(
  count: number,
  fn: (...ns: TestNetns[]) => Promise<void> | void,
): Promise<void> {
  const before = { links: hostLinks(), netns: ownNetns(), fds: openFds() };
  const spaces: TestNetns[] = [];
  try {
    for (let i = 0; i < count; i++) spaces.push(await newNetns());
    await fn(...spaces);
  } finally {
    for (const ns of spaces) await ns.stop();
  }
  assert.deepEqual(hostLinks(), before.links, "the host's links are untouched");
  assert.equal(ownNetns(), before.netns, "this thread is back in its own namespace");
  assert.equal(openFds(), before.fds, "every fd was closed");
}

/** `ip -j ARGS` run inside the namespace of `pid`, parsed. */
function ipJson(pid: number, ...args: string[]): any[] {
  const out = new Deno.Command("nsenter", {
    args: ["-t", String(pid), "-n", "ip", "-j", ...args],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`ip ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return JSON.parse(dec.decode(out.stdout) || "[]");
}

function byName(links: Link[], name: string): Link {
  const l = links.find((x) => x.name === name);
  assert.ok(l, `link ${name} in ${links.map((x) => x.name).join(", ")}`);
  return l;
}

rootTest(
  "Rtnl creates a bridge and a veth pair, sets them up, MTU, MAC, name and port; ip agrees",
  async () => {
    await withNamespaces(1, (ns) => {
      using net = Rtnl.open({ netns: { pid: ns.pid } });
      assert.deepEqual(net.listLinks().map((l) => l.name), ["lo"]);
      net.createBridge("ctr0");
      net.createVeth("veth0", "veth1");
      net.setMtu("veth0", 1400);
      net.setMac("veth0", "02:00:00:c7:00:01");
      net.rename("veth1", "eth9");
      net.setMaster("veth0", "ctr0");
      for (const name of ["ctr0", "veth0", "eth9"]) net.setUp(name);

      const links = net.listLinks();
      const ctr0 = byName(links, "ctr0"),
        veth0 = byName(links, "veth0"),
        eth9 = byName(links, "eth9");
      assert.equal(ctr0.kind, "bridge");
      assert.equal(veth0.kind, "veth");
      assert.equal(veth0.mtu, 1400);
      assert.equal(eth9.mtu, 1500, "an MTU set on one end stays on that end");
      assert.equal(veth0.mac, "02:00:00:c7:00:01");
      assert.equal(veth0.master, "ctr0");
      assert.equal(veth0.masterIndex, ctr0.index);
      assert.equal(eth9.peerIndex, veth0.index);
      assert.equal(veth0.peerIndex, eth9.index);
      assert.ok(links.every((l) => l.name === "lo" || l.up));

      const ip = ipJson(ns.pid, "-d", "link", "show");
      assert.deepEqual(ip.map((l) => l.ifname).sort(), links.map((l) => l.name).sort());
      for (const l of links) {
        const j = ip.find((x) => x.ifname === l.name);
        assert.equal(j.ifindex, l.index, l.name);
        assert.equal(j.mtu, l.mtu, l.name);
        assert.equal(j.address, l.mac, l.name);
        assert.equal(j.master, l.master, l.name);
        assert.equal(j.linkinfo?.info_kind, l.kind, l.name);
        assert.equal(j.flags.includes("UP"), l.up, l.name);
        // operstate is left out: the kernel settles it a moment later (linkwatch).
      }
      assert.equal(net.getLink("veth0").master, "ctr0");

      net.setMaster("veth0", null);
      net.setDown("eth9");
      assert.equal(net.getLink("veth0").master, undefined);
      assert.equal(net.getLink("eth9").up, false);
      net.deleteLink("veth0");
      assert.equal(net.findLink("eth9"), undefined, "a veth goes with its peer");
      net.deleteLink("ctr0");
      assert.deepEqual(net.listLinks().map((l) => l.name), ["lo"]);
      assert.deepEqual(ipJson(ns.pid, "link", "show").map((l) => l.ifname), ["lo"]);
    });
  },
);

rootTest("Rtnl adds, lists and deletes addresses and routes; ip agrees", async () => {
  await withNamespaces(1, (ns) => {
    using net = Rtnl.open({ netns: { pid: ns.pid } });
    net.createVeth("veth0", "veth1");
    for (const name of ["lo", "veth0", "veth1"]) net.setUp(name);
    net.addAddress("veth0", "10.200.0.1/24");
    net.addAddress("veth0", "fd00:c7::1/64");
    net.addAddress("veth1", "10.200.0.2/24");
    net.addRoute({ dst: "10.201.0.0/16", gateway: "10.200.0.2" });
    net.addRoute({ dst: "10.202.0.0/24", dev: "veth1", metric: 50 });
    net.addRoute({ dst: "default", gateway: "10.200.0.2", dev: "veth0" });

    const addrs = net.listAddresses("veth0");
    assert.deepEqual(
      addrs.map((a) => `${a.family} ${a.cidr} ${a.scope}`).sort(),
      [
        "inet 10.200.0.1/24 global",
        "inet6 fd00:c7::1/64 global",
        ...addrs.filter((a) => a.address.startsWith("fe80:")).map((a) => `inet6 ${a.cidr} link`),
      ].sort(),
    );
    assert.ok(addrs.every((a) => a.link === "veth0"));
    // Link-local IPv6 addresses come and go with carrier events: compared without them.
    const ipAddrs = ipJson(ns.pid, "addr", "show")
      .flatMap((l) => l.addr_info.map((a: any) => ({ ...a, ifname: l.ifname })))
      .filter((a) => a.scope !== "link")
      .map((a) => `${a.ifname} ${a.local}/${a.prefixlen} ${a.scope}`);
    assert.deepEqual(
      net.listAddresses().filter((a) => a.scope !== "link").map((a) =>
        `${a.link} ${a.cidr} ${a.scope}`
      ).sort(),
      ipAddrs.sort(),
    );
    const v4 = ipJson(ns.pid, "-4", "addr", "show", "dev", "veth0")[0].addr_info[0];
    assert.equal(v4.broadcast, "10.200.0.255");

    const routes = net.listRoutes();
    const text = (r: { dst: string; gateway?: string; dev?: string; metric?: number }) =>
      `${r.dst} via ${r.gateway ?? "-"} dev ${r.dev} metric ${r.metric ?? 0}`;
    assert.deepEqual(
      routes.map(text).sort(),
      ipJson(ns.pid, "-4", "route", "show").map(text).sort(),
    );
    assert.ok(routes.some((r) => text(r) === "default via 10.200.0.2 dev veth0 metric 0"));
    assert.ok(routes.some((r) => text(r) === "10.202.0.0/24 via - dev veth1 metric 50"));
    assert.equal(routes.find((r) => r.dst === "10.202.0.0/24")?.scope, "link");
    const v6 = net.listRoutes({ family: "inet6" });
    assert.ok(v6.some((r) => r.dst === "fd00:c7::/64" && r.dev === "veth0"));

    net.deleteRoute({ dst: "10.201.0.0/16", gateway: "10.200.0.2" });
    assert.ok(!net.listRoutes().some((r) => r.dst === "10.201.0.0/16"));
    assert.throws(
      () => net.deleteRoute({ dst: "10.201.0.0/16", gateway: "10.200.0.2" }),
      /^NetlinkError: delete route 10.201.0.0\/16 via 10.200.0.2: ESRCH/,
    );
    net.deleteAddress("veth0", "10.200.0.1/24");
    assert.ok(!net.listAddresses("veth0").some((a) => a.address === "10.200.0.1"));
    assert.throws(() => net.deleteAddress("veth0", "10.200.0.1/24"), /EADDRNOTAVAIL/);
    net.deleteLink("veth0");
    assert.deepEqual(net.listLinks().map((l) => l.name), ["lo"]);
  });
});

rootTest("Rtnl errors name the operation, the object and the errno", async () => {
  await withNamespaces(1, (ns) => {
    using net = Rtnl.open({ netns: { pid: ns.pid } });
    net.createBridge("ctr0");
    assert.throws(() => net.createBridge("ctr0"), (e: unknown) => {
      assert.ok(e instanceof NetlinkError && e instanceof SyscallError);
      assert.equal(e.message, "create bridge ctr0: EEXIST (File exists)");
      assert.equal(e.code, "EEXIST");
      return true;
    });
    const count = net.listLinks().length;
    assert.throws(() => net.createBridge("abcdefghijklmnop"), (e: unknown) => {
      assert.ok(!(e instanceof SyscallError), "refused before anything reached the kernel");
      assert.match(String(e), /invalid link name "abcdefghijklmnop": 16 bytes, at most 15/);
      return true;
    });
    assert.equal(net.listLinks().length, count);
    assert.throws(
      () => net.deleteLink("nosuch0"),
      /^NetlinkError: delete link nosuch0: ENODEV \(No such device\)$/,
    );
    assert.throws(() => net.setUp("nosuch0"), /^NetlinkError: set up nosuch0: ENODEV/);
    assert.throws(() => net.setMaster("ctr0", "nosuch0"), /attach to bridge nosuch0: ENODEV/);
    assert.throws(() => net.addAddress("nosuch0", "10.203.0.1/24"), /add address nosuch0: ENODEV/);
    assert.throws(() => net.setMtu("ctr0", 70000), /^NetlinkError: set mtu ctr0: EINVAL/);
    assert.throws(
      () => net.addRoute({ dst: "default", gateway: "10.99.0.1" }),
      /add route default via 10.99.0.1: ENETUNREACH/,
    );
    net.deleteLink("ctr0");
    assert.deepEqual(net.listLinks().map((l) => l.name), ["lo"]);
  });
});

rootTest("Rtnl moves veth ends into a second namespace by pid, path and fd", async () => {
  await withNamespaces(2, (ns1, ns2) => {
    using a = Rtnl.open({ netns: { pid: ns1.pid } });
    using b = Rtnl.open({ netns: { path: `/proc/${ns2.pid}/ns/net` } });
    a.createVeth("veth0", "veth1");
    a.moveToNetns("veth1", { pid: ns2.pid });
    assert.equal(a.findLink("veth1"), undefined);
    assert.equal(b.getLink("veth1").kind, "veth");
    assert.ok(ipJson(ns2.pid, "link", "show").some((l) => l.ifname === "veth1"));

    a.moveToNetns("veth0", { path: `/proc/${ns2.pid}/ns/net` }, { name: "eth0" });
    assert.deepEqual(b.listLinks().map((l) => l.name).sort(), ["eth0", "lo", "veth1"]);
    assert.equal(b.getLink("eth0").peerIndex, b.getLink("veth1").index);

    b.createVeth("vb0", "vb1", { peerNetns: { pid: ns1.pid } });
    assert.equal(a.getLink("vb1").kind, "veth", "the peer was born in the first namespace");
    const fd = open(`/proc/${ns1.pid}/ns/net`, O.RDONLY);
    try {
      b.moveToNetns("vb0", { fd });
    } finally {
      close(fd);
    }
    assert.deepEqual(a.listLinks().map((l) => l.name).sort(), ["lo", "vb0", "vb1"]);

    b.deleteLink("veth1");
    a.deleteLink("vb0");
    assert.deepEqual(a.listLinks().map((l) => l.name), ["lo"]);
    assert.deepEqual(b.listLinks().map((l) => l.name), ["lo"]);
    assert.deepEqual(ipJson(ns2.pid, "link", "show").map((l) => l.ifname), ["lo"]);
  });
});

rootTest(
  "withNetns() always brings the thread back and sockets stay in their namespace",
  async () => {
    await withNamespaces(1, (ns) => {
      const own = ownNetns();
      const inside = withNetns({ pid: ns.pid }, ownNetns);
      assert.notEqual(inside, own);
      assert.equal(inside, Deno.readLinkSync(`/proc/${ns.pid}/ns/net`));
      assert.equal(ownNetns(), own);
      assert.throws(() =>
        withNetns({ pid: ns.pid }, () => {
          throw new Error("fails inside");
        }), /fails inside/);
      assert.equal(ownNetns(), own);
      assert.throws(() => withNetns({ path: "/nonexistent/ns" }, ownNetns), /ENOENT/);
      assert.throws(() => Rtnl.open({ netns: { path: "/proc/self/ns/uts" } }), /setns.*EINVAL/);
      assert.equal(ownNetns(), own);
      for (let i = 0; i < 20; i++) {
        using net = Rtnl.open({ netns: { pid: ns.pid } });
        assert.deepEqual(net.listLinks().map((l) => l.name), ["lo"]);
      }
    });
  },
);
