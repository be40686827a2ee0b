/**
 * Container networking without root and without touching the host: subnet
 * arithmetic, address choice, leases under flock in a temporary state
 * directory, network records, `-p` parsing, nft and iptables rule text, and
 * the hosts, resolv.conf and hostname contents.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import {
  chooseAddress,
  conflictingRoute,
  intToIpv4,
  ipv4ToInt,
  type Lease,
  Leases,
  parseSubnet,
  processStartTime,
  subnetsOverlap,
} from "../../lib/network/ipam.ts";
import type { Route } from "../../lib/network/link.ts";
import { DEFAULT_SUBNET, NetworkStore } from "../../lib/network/networks.ts";
import { formatPort, parsePortSpec, parsePortSpecs } from "../../lib/network/ports.ts";
import {
  iptablesRuleArgs,
  needsForwarding,
  nftRuleCommands,
  nftTableCommands,
} from "../../lib/network/nat.ts";
import {
  FALLBACK_NAMESERVERS,
  hostNetworkHosts,
  hostsContent,
  isLocalNameserver,
  resolvConfContent,
  writeNetworkFiles,
} from "../../lib/network/resolv.ts";
import { macFor, vethName } from "../../lib/network/bridge.ts";
import {
  commentContainer,
  freeEndpoint,
  MAX_ENDPOINTS,
  ruleComment,
} from "../../lib/network/names.ts";
import { parseBridgeOptions } from "../../lib/network/bridge_options.ts";

const ID = "a".repeat(64);
const net24 = { name: "n", subnet: "10.124.0.0/24", gateway: "10.124.0.1" };

function route(dst: string, dev = "eth0", extra: Partial<Route> = {}): Route {
  return {
    family: "inet",
    dst,
    dev,
    table: 254,
    protocol: "kernel",
    scope: "link",
    type: "unicast",
    ...extra,
  };
}

Deno.test("parseSubnet() takes IPv4 CIDR with clear host bits and prefix 8-30", () => {
  assert.deepEqual(parseSubnet("10.123.0.0/16"), { base: ipv4ToInt("10.123.0.0"), prefixLen: 16 });
  assert.throws(
    () => parseSubnet("10.123.4.5/16"),
    /host bits are set \(did you mean 10.123.0.0\/16\?\)/,
  );
  assert.throws(() => parseSubnet("10.0.0.0/31"), /prefix length must be 8 to 30/);
  assert.throws(() => parseSubnet("10.0.0.0/4"), /prefix length must be 8 to 30/);
  assert.throws(() => parseSubnet("fd00::/64"), /expected IPv4 CIDR/);
  assert.throws(() => parseSubnet("10.0.0.256/24"), /Invalid IP address/);
  assert.equal(intToIpv4(ipv4ToInt("255.254.1.0")), "255.254.1.0");
});

Deno.test("subnetsOverlap() is true when one subnet holds the other", () => {
  const s = parseSubnet;
  assert.ok(subnetsOverlap(s("10.0.0.0/8"), s("10.124.3.0/24")));
  assert.ok(subnetsOverlap(s("10.124.3.0/24"), s("10.0.0.0/8")));
  assert.ok(!subnetsOverlap(s("10.124.3.0/24"), s("10.124.4.0/24")));
  assert.ok(!subnetsOverlap(s("172.17.0.0/16"), s(DEFAULT_SUBNET)));
  assert.ok(!subnetsOverlap(s("10.88.0.0/16"), s(DEFAULT_SUBNET)));
});

Deno.test("chooseAddress() gives the lowest free address, skipping network, gateway and broadcast", () => {
  assert.equal(chooseAddress(net24, []), "10.124.0.2");
  const held = (ip: string) => ({ ip, containerId: "b".repeat(64) });
  assert.equal(chooseAddress(net24, [held("10.124.0.2"), held("10.124.0.4")]), "10.124.0.3");
  const gwHigh = { ...net24, gateway: "10.124.0.254" };
  assert.equal(chooseAddress(gwHigh, []), "10.124.0.1");
  const all = Array.from({ length: 253 }, (_, i) => held(`10.124.0.${i + 2}`));
  assert.throws(
    () => chooseAddress(net24, all),
    /No free address in network n \(10.124.0.0\/24\): all 253 are in use/,
  );
  const small = { name: "s", subnet: "10.124.9.0/30", gateway: "10.124.9.1" };
  assert.equal(chooseAddress(small, []), "10.124.9.2");
  assert.throws(() => chooseAddress(small, [held("10.124.9.2")]), /No free address/);
});

Deno.test("chooseAddress() takes a fixed --ip only inside the subnet, usable and free", () => {
  assert.equal(chooseAddress(net24, [], "10.124.0.77"), "10.124.0.77");
  assert.throws(
    () => chooseAddress(net24, [], "10.125.0.5"),
    /^Error: Cannot use --ip 10.125.0.5: it is outside the subnet of network n \(10.124.0.0\/24\)$/,
  );
  assert.throws(() => chooseAddress(net24, [], "10.124.0.1"), /it is the gateway of network n/);
  assert.throws(() => chooseAddress(net24, [], "10.124.0.0"), /it is the network address/);
  assert.throws(() => chooseAddress(net24, [], "10.124.0.255"), /it is the broadcast address/);
  assert.throws(
    () => chooseAddress(net24, [{ ip: "10.124.0.9", containerId: "c".repeat(64) }], "10.124.0.9"),
    /Cannot use --ip 10.124.0.9: it is in use by container cccccccccccc$/,
  );
  assert.throws(() => chooseAddress(net24, [], "bogus"), /Invalid IP address: "bogus"/);
});

Deno.test("conflictingRoute() ignores the default route and the network's own bridge", () => {
  const s = parseSubnet("10.124.0.0/24");
  const routes = [
    route("default", "eth0", { gateway: "192.0.2.1", scope: "global" }),
    route("192.0.2.0/24"),
    route("10.124.0.0/24", "ctr-x"),
  ];
  assert.equal(conflictingRoute(s, routes, "ctr-x"), undefined);
  assert.equal(conflictingRoute(s, routes)?.dev, "ctr-x");
  assert.equal(conflictingRoute(s, [route("10.0.0.0/8", "tun0")])?.dst, "10.0.0.0/8");
  assert.equal(conflictingRoute(s, [route("10.124.0.7/32", "wg0")])?.dev, "wg0");
  assert.equal(conflictingRoute(s, [route("10.124.0.0/24", "lo", { type: "local" })]), undefined);
});

Deno.test("Leases: 20 parallel allocations get 20 distinct addresses, release frees them", async () => {
  const dir = tempDir();
  const leases = new Leases(dir, net24);
  const ids = Array.from({ length: 20 }, (_, i) => i.toString(16).padStart(64, "0"));
  const got = await Promise.all(
    ids.map((containerId) => leases.allocate({ containerId, pid: Deno.pid })),
  );
  const ips = got.map((g) => g.lease.ip);
  assert.equal(new Set(ips).size, 20);
  assert.deepEqual(
    [...ips].sort((a, b) => ipv4ToInt(a) - ipv4ToInt(b)),
    Array.from({ length: 20 }, (_, i) => `10.124.0.${i + 2}`),
  );
  assert.equal(leases.list().length, 20);
  assert.equal(got[0].lease.startTime, processStartTime(Deno.pid));
  await assert.rejects(
    () => leases.allocate({ containerId: ids[0], pid: Deno.pid }),
    /already has an address/,
  );
  await assert.rejects(
    () => leases.allocate({ containerId: "f".repeat(64), pid: Deno.pid, ip: ips[3] }),
    /it is in use by container 000000000000/,
  );
  await Promise.all(ids.map((id) => leases.release(id)));
  assert.deepEqual(leases.list(), []);
  assert.equal(await leases.release(ids[0]), undefined);
});

Deno.test("Leases: an owner whose pid is gone or reused is reclaimed by the next allocation", async () => {
  const dir = tempDir();
  const leases = new Leases(dir, net24);
  const start = processStartTime(Deno.pid)!;
  const stale: Lease = {
    ip: "10.124.0.2",
    containerId: "d".repeat(64),
    pid: Deno.pid,
    startTime: start + 1, // the same pid, another process
    created: new Date().toISOString(),
  };
  await leases.update((l) => l.push(stale));
  const { lease, reclaimed } = await leases.allocate({ containerId: ID, pid: Deno.pid });
  assert.equal(lease.ip, "10.124.0.2", "the stale address is free again");
  assert.deepEqual(reclaimed.map((l) => l.containerId), [stale.containerId]);
  await assert.rejects(
    () => leases.allocate({ containerId: "e".repeat(64), pid: 0x3fffffff }),
    /process 1073741823 is gone/,
  );
  assert.deepEqual(await leases.reclaim(), []);
  const file = JSON.parse(Deno.readTextFileSync(leases.path));
  assert.equal(file.network, "n");
  assert.equal(file.leases[0].containerId, ID);
});

Deno.test("NetworkStore creates, lists and removes networks and refuses overlaps", async () => {
  const root = tempDir();
  const routes = [
    route("default", "eth0", { gateway: "192.0.2.1" }),
    route("10.124.0.0/24", "wg0"),
  ];
  const store = new NetworkStore({ root, stateDir: tempDir(), routes: () => routes });
  assert.deepEqual(store.list().map((n) => [n.name, n.bridge, n.subnet, n.gateway]), [
    ["bridge", "ctr0", "10.123.0.0/16", "10.123.0.1"],
  ]);
  const a = await store.create({ name: "a" });
  assert.equal(a.subnet, "10.124.1.0/24", "the pool's first /24 is a host route's, so the next");
  assert.equal(a.gateway, "10.124.1.1");
  assert.match(a.bridge, /^ctr-[0-9a-f]{11}$/);
  const b = await store.create({
    name: "b",
    subnet: "10.200.0.0/16",
    gateway: "10.200.255.254",
    bridge: "ctrb",
  });
  assert.equal(b.gateway, "10.200.255.254");
  assert.deepEqual(store.list().map((n) => n.name), ["bridge", "a", "b"]);
  assert.equal(store.get("b").bridge, "ctrb");

  await assert.rejects(
    () => store.create({ name: "c", subnet: "10.200.5.0/24" }),
    /^Error: Cannot create network c: subnet 10.200.5.0\/24 overlaps network b \(10.200.0.0\/16\)$/,
  );
  await assert.rejects(
    () => store.create({ name: "c", subnet: "10.123.7.0/24" }),
    /overlaps network bridge/,
  );
  await assert.rejects(
    () => store.create({ name: "c", subnet: "10.124.0.0/25" }),
    /^Error: Subnet 10.124.0.0\/25 of network c overlaps the host route 10.124.0.0\/24 dev wg0: choose another subnet$/,
  );
  await assert.rejects(() => store.create({ name: "a" }), /a network of that name exists/);
  await assert.rejects(() => store.create({ name: "host" }), /the name is reserved/);
  await assert.rejects(() => store.create({ name: "../x" }), /Invalid network name/);
  await assert.rejects(() => store.create({ name: "c", bridge: "br0" }), /must start with "ctr"/);
  await assert.rejects(
    () => store.create({ name: "c", bridge: "ctrb" }),
    /bridge ctrb belongs to network b/,
  );
  await assert.rejects(
    () => store.create({ name: "c", subnet: "10.201.0.0/24", gateway: "10.201.0.255" }),
    /broadcast/,
  );

  const leases = store.leases("a");
  await leases.allocate({ containerId: ID, pid: Deno.pid });
  await assert.rejects(
    () => store.remove("a"),
    /^Error: Cannot remove network a: in use by container aaaaaaaaaaaa$/,
  );
  assert.equal(store.inspect("a").containers.length, 1);
  await leases.release(ID);
  await store.remove("a");
  await assert.rejects(() => store.remove("a"), /No such network: a/);
  await assert.rejects(() => store.remove("bridge"), /it is ctr's default network/);
  assert.throws(() => store.get("a"), /^Error: No such network: a$/);
  assert.deepEqual(
    JSON.parse(Deno.readTextFileSync(store.recordsPath)).networks.map((n: { name: string }) =>
      n.name
    ),
    ["b"],
  );
});

Deno.test("parsePortSpec() reads docker's -p forms", () => {
  assert.deepEqual(parsePortSpec("8080:80"), {
    hostPort: 8080,
    containerPort: 80,
    protocol: "tcp",
  });
  assert.deepEqual(parsePortSpec("127.0.0.1:8080:80/udp"), {
    hostIp: "127.0.0.1",
    hostPort: 8080,
    containerPort: 80,
    protocol: "udp",
  });
  assert.deepEqual(parsePortSpec("127.0.0.1::80"), {
    hostIp: "127.0.0.1",
    hostPort: 0,
    containerPort: 80,
    protocol: "tcp",
  });
  assert.deepEqual(parsePortSpec("53/UDP"), { hostPort: 0, containerPort: 53, protocol: "udp" });
  assert.deepEqual(parsePortSpec("0.0.0.0:1:65535"), {
    hostPort: 1,
    containerPort: 65535,
    protocol: "tcp",
  });
  assert.equal(formatPort(parsePortSpec("8080:80")), "0.0.0.0:8080->80/tcp");
});

Deno.test("parsePortSpec() refuses bad ports, protocols and addresses with the spec in the message", () => {
  const bad: [string, RegExp][] = [
    ["", /invalid port spec "": empty/],
    ["8080:0", /container port "0" is not a port \(1-65535\)/],
    ["70000:80", /host port "70000" is not a port/],
    ["80:80/sctp", /protocol "sctp" is not tcp or udp/],
    ["80:http", /container port "http"/],
    [":80", /the host port is empty/],
    ["1.2.3:80:80", /"1.2.3" is not an IPv4 address/],
    ["[::1]:80:80", /IPv6 host addresses are not supported/],
    [":8080:80", /the host address is empty/],
    ["a:b:c:d", /expected \[IP:\]\[HOSTPORT:\]CTRPORT/],
    ["-1:80", /host port "-1"/],
  ];
  for (const [spec, re] of bad) assert.throws(() => parsePortSpec(spec), re, spec);
  assert.throws(() => parsePortSpecs(["8080:80", "127.0.0.1:8080:81"]), /is published twice/);
  assert.equal(
    parsePortSpecs(["8080:80", "8080:80/udp", "127.0.0.1:9090:1", "127.0.0.2:9090:1"]).length,
    4,
  );
});

Deno.test("names: an endpoint's rules are tagged apart, and every tag names its container", () => {
  assert.equal(ruleComment(ID), `ctr:${ID}`);
  assert.equal(ruleComment(ID, 2), `ctr:${ID}-2`);
  assert.equal(commentContainer(`ctr:${ID}`), ID);
  assert.equal(commentContainer(`ctr:${ID}-2`), ID);
  assert.equal(commentContainer(`ctr:${ID}-x`), undefined);
  assert.equal(commentContainer("other"), undefined);
  assert.equal(commentContainer(undefined), undefined);
  assert.equal(freeEndpoint([]), 0);
  assert.equal(freeEndpoint([0, 1, 3]), 2);
  assert.throws(() => freeEndpoint([...Array(MAX_ENDPOINTS).keys()]), /at most 100 networks/);
  const r = {
    containerId: ID,
    endpoint: 3,
    bridge: "ctr1",
    ip: "10.9.0.2",
    masquerade: true,
    ports: [],
  };
  assert.ok(nftRuleCommands("ctr", r).every((l) => l.endsWith(`comment "ctr:${ID}-3"`)));
  assert.ok(
    iptablesRuleArgs("ctr", r).every((x) => x.args.join(" ").includes(`--comment ctr:${ID}-3 `)),
  );
  assert.throws(() => nftRuleCommands("ctr", { ...r, endpoint: 100 }), /Invalid endpoint index/);
  assert.throws(() => nftRuleCommands("ctr", { ...r, endpoint: 1.5 }), /Invalid endpoint index/);
});

Deno.test("nat: nft and iptables rules carry the container's comment and match its bridge", () => {
  const r = {
    containerId: ID,
    bridge: "ctr0",
    ip: "10.123.0.2",
    masquerade: true,
    ports: [
      { hostPort: 8080, containerPort: 80, protocol: "tcp" as const },
      { hostIp: "192.0.2.2", hostPort: 5353, containerPort: 53, protocol: "udp" as const },
      { hostIp: "127.0.0.1", hostPort: 9000, containerPort: 9000, protocol: "tcp" as const },
    ],
  };
  const c = `comment "ctr:${ID}"`;
  assert.deepEqual(nftRuleCommands("ctr", r), [
    `add rule ip ctr forward iifname "ctr0" oifname "ctr*" oifname != "ctr0" ct status ! dnat drop ${c}`,
    `add rule ip ctr postrouting ip saddr 10.123.0.2 oifname != "ctr0" masquerade ${c}`,
    `add rule ip ctr prerouting iifname != "ctr0" fib daddr type local tcp dport 8080 dnat to 10.123.0.2:80 ${c}`,
    `add rule ip ctr output ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 8080 dnat to 10.123.0.2:80 ${c}`,
    `add rule ip ctr prerouting iifname != "ctr0" ip daddr 192.0.2.2 udp dport 5353 dnat to 10.123.0.2:53 ${c}`,
    `add rule ip ctr output ip daddr != 127.0.0.0/8 ip daddr 192.0.2.2 udp dport 5353 dnat to 10.123.0.2:53 ${c}`,
  ]);
  assert.ok(nftTableCommands("ctr").every((l) => l.startsWith("add ")));
  const ipt = iptablesRuleArgs("ctr", r);
  assert.deepEqual(ipt.map((x) => `${x.table} ${x.chain}`), [
    "filter CTR-FORWARD",
    "filter CTR-FORWARD",
    "nat CTR-POSTROUTING",
    "nat CTR",
    "nat CTR",
  ]);
  assert.ok(ipt.every((x) => x.args.join(" ").includes(`--comment ctr:${ID}`)));
  assert.equal(
    ipt[3].args.join(" "),
    `! -i ctr0 -p tcp -m tcp --dport 8080 -m comment --comment ctr:${ID} -j DNAT --to-destination 10.123.0.2:80`,
  );
  assert.ok(needsForwarding(r));
  assert.ok(
    !needsForwarding({ masquerade: false, ports: [r.ports[2]] }),
    "loopback ports use the proxy",
  );
  assert.throws(() => nftRuleCommands("ctr", { ...r, bridge: 'x" drop' }), /Invalid bridge name/);
  assert.throws(
    () => nftRuleCommands("ctr", { ...r, ip: "10.0.0.1; flush" }),
    /Invalid IPv4 address/,
  );
  assert.throws(
    () => nftRuleCommands("ctr", { ...r, ports: [{ ...r.ports[0], hostPort: 0 }] }),
    /Host port not chosen/,
  );
});

Deno.test("hostsContent() writes localhost, the container, its peers and extra hosts", () => {
  assert.equal(
    hostsContent({
      ip: "10.124.1.2",
      hostname: "web",
      name: "web-1",
      aliases: ["www", "web"],
      peers: [{ ip: "10.124.1.3", names: ["db", "db-1"] }, { ip: "10.124.1.2", names: ["self"] }],
      extra: [{ ip: "192.0.2.9", names: ["gw.example"] }],
    }),
    [
      "127.0.0.1\tlocalhost",
      "::1\tlocalhost ip6-localhost ip6-loopback",
      "fe00::0\tip6-localnet",
      "ff00::0\tip6-mcastprefix",
      "ff02::1\tip6-allnodes",
      "ff02::2\tip6-allrouters",
      "192.0.2.9\tgw.example",
      "10.124.1.2\tweb web-1 www",
      "10.124.1.3\tdb db-1",
      "",
    ].join("\n"),
  );
  assert.equal(hostsContent({}).split("\n").length, 7, "no network: the fixed lines only");
});

Deno.test("resolvConfContent() drops loopback and IPv6 nameservers, falls back to 8.8.8.8/8.8.4.4", () => {
  const host = [
    "# generated",
    "nameserver 127.0.0.53",
    "nameserver 192.0.2.53 # the site's",
    "nameserver ::1",
    "nameserver fd00::53",
    "domain old.example",
    "search corp.example lab.example",
    "options edns0 trust-ad",
    "",
  ].join("\n");
  assert.equal(
    resolvConfContent(host),
    "nameserver 192.0.2.53\nsearch corp.example lab.example\noptions edns0 trust-ad\n",
  );
  assert.equal(resolvConfContent(host, { ipv6: true }).split("\n")[1], "nameserver fd00::53");
  assert.equal(
    resolvConfContent("nameserver 127.0.0.1\nnameserver ::1\n"),
    FALLBACK_NAMESERVERS.map((s) => `nameserver ${s}\n`).join(""),
  );
  assert.equal(resolvConfContent(""), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  assert.equal(
    resolvConfContent(host, {
      dns: ["192.0.2.1"],
      dnsSearch: ["x.example"],
      dnsOptions: ["ndots:2"],
    }),
    "search x.example\nnameserver 192.0.2.1\noptions ndots:2\n",
  );
  assert.ok(isLocalNameserver("127.1.2.3") && isLocalNameserver("0:0:0:0:0:0:0:1"));
  assert.ok(!isLocalNameserver("10.0.0.1") && !isLocalNameserver("fe80::1"));
});

Deno.test("writeNetworkFiles() writes in place: a held file sees the new text", () => {
  const dir = tempDir();
  const paths = writeNetworkFiles(dir, { hostname: "box", ip: "10.1.0.2", hostResolvConf: "" });
  assert.equal(Deno.readTextFileSync(paths.hostname), "box\n");
  assert.match(Deno.readTextFileSync(paths.hosts), /\n10\.1\.0\.2\tbox\n$/);
  assert.equal(Deno.readTextFileSync(paths.resolvConf), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  const inode = Deno.statSync(paths.hosts).ino;
  writeNetworkFiles(dir, { hostname: "box", ip: "10.1.0.3", hostResolvConf: "" });
  assert.equal(Deno.statSync(paths.hosts).ino, inode);
});

Deno.test("vethName() and macFor() derive names and MACs as docker does", () => {
  assert.equal(vethName("0123456789abcdef"), "veth01234567");
  assert.equal(vethName("0123456789abcdef", 0), "veth01234567");
  assert.equal(vethName("0123456789abcdef", 12), "veth01234567-12");
  assert.ok(vethName("0123456789abcdef", MAX_ENDPOINTS - 1).length <= 15);
  assert.equal(macFor("10.123.0.2"), "02:42:0a:7b:00:02");
  assert.equal(macFor("172.17.255.254"), "02:42:ac:11:ff:fe");
});

Deno.test("nat: without a proxy, 127.0.0.0/8 is DNATed and the bridge cannot reach loopback", () => {
  const r = {
    containerId: "ab12",
    bridge: "ctr0",
    ip: "10.123.0.9",
    masquerade: true,
    ports: [
      { hostPort: 8080, containerPort: 80, protocol: "tcp" as const },
      { hostIp: "10.0.0.5", hostPort: 8081, containerPort: 81, protocol: "tcp" as const },
    ],
    loopback: true,
  };
  const nft = nftRuleCommands("ctr", r).join("\n");
  assert.match(nft, /output ip daddr 127\.0\.0\.0\/8 tcp dport 8080 dnat to 10\.123\.0\.9:80 /);
  // A port on one host address only is not a loopback port.
  assert.doesNotMatch(nft, /127\.0\.0\.0\/8 tcp dport 8081/);
  assert.match(
    nft,
    /postrouting ip saddr 127\.0\.0\.0\/8 ip daddr 10\.123\.0\.9 oifname "ctr0" masquerade/,
  );
  assert.match(
    nft,
    /input iifname "ctr0" ip daddr 127\.0\.0\.0\/8 ct state != \{ established, related \} drop/,
  );
  const ipt = iptablesRuleArgs("ctr", r).map((x) => `${x.table} ${x.chain} ${x.args.join(" ")}`);
  assert.ok(ipt.some((l) => l.startsWith("nat CTR-OUTPUT -d 127.0.0.0/8 -p tcp")));
  assert.ok(ipt.some((l) => l.startsWith("filter CTR-INPUT -i ctr0 -d 127.0.0.0/8")));
  // With a proxy (the default), none of it.
  const plain = nftRuleCommands("ctr", { ...r, loopback: false }).join("\n");
  assert.doesNotMatch(plain, /127\.0\.0\.0\/8 tcp/);
});

Deno.test("nat: an internal network's container gets the two rules that seal it, no masquerade", () => {
  const r = {
    containerId: ID,
    bridge: "ctr-in",
    ip: "10.124.0.2",
    masquerade: false,
    ports: [],
    internal: true,
  };
  const c = `comment "ctr:${ID}"`;
  assert.deepEqual(nftRuleCommands("ctr", r), [
    `add rule ip ctr forward iifname "ctr-in" oifname "ctr*" oifname != "ctr-in" ct status ! dnat drop ${c}`,
    `add rule ip ctr forward ip saddr 10.124.0.2 iifname "ctr-in" oifname != "ctr-in" drop ${c}`,
    `add rule ip ctr forward ip daddr 10.124.0.2 oifname "ctr-in" iifname != "ctr-in" drop ${c}`,
  ]);
  assert.deepEqual(
    iptablesRuleArgs("ctr", r).slice(2).map((x) => x.args.join(" ")),
    [
      `-s 10.124.0.2/32 -i ctr-in ! -o ctr-in -m comment --comment ctr:${ID} -j DROP`,
      `-d 10.124.0.2/32 -o ctr-in ! -i ctr-in -m comment --comment ctr:${ID} -j DROP`,
    ],
  );
  assert.ok(!needsForwarding(r));
});

Deno.test("bridge options: docker's keys, checked, and what they mean", () => {
  assert.deepEqual(parseBridgeOptions(), { masquerade: true, ifacePrefix: "eth" });
  assert.deepEqual(
    parseBridgeOptions({
      "com.docker.network.bridge.name": "ctr-x",
      "com.docker.network.driver.mtu": "1400",
      "com.docker.network.bridge.enable_ip_masquerade": "false",
      "com.docker.network.bridge.host_binding_ipv4": "127.0.0.1",
      "com.docker.network.container_iface_prefix": "net",
      "com.docker.network.bridge.enable_icc": "true",
      "com.example.unknown": "kept, ignored",
    }),
    { bridge: "ctr-x", mtu: 1400, masquerade: false, hostBinding: "127.0.0.1", ifacePrefix: "net" },
  );
  assert.equal(
    parseBridgeOptions({ "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0" }).hostBinding,
    undefined,
  );
  for (
    const [k, v, why] of [
      ["com.docker.network.driver.mtu", "67", /68-65535/],
      ["com.docker.network.driver.mtu", "1e3", /68-65535/],
      ["com.docker.network.bridge.enable_ip_masquerade", "maybe", /true or false/],
      ["com.docker.network.bridge.enable_icc", "false", /not supported/],
      ["com.docker.network.bridge.default_bridge", "true", /not supported/],
      ["com.docker.network.bridge.host_binding_ipv4", "::1", /an IPv4 address/],
      ["com.docker.network.container_iface_prefix", "0eth", /a letter/],
    ] as const
  ) {
    assert.throws(() => parseBridgeOptions({ [k]: v }), why, `${k}=${v}`);
  }
});

Deno.test("hosts on the host's network: the host's file, or docker's with --add-host", () => {
  const host = "127.0.0.1\tlocalhost\n10.0.0.5\tvm";
  assert.equal(hostNetworkHosts(host, []), `${host}\n`);
  // With entries to add, docker writes its own file: its fixed lines, then the entries.
  assert.equal(
    hostNetworkHosts(host, [{ ip: "10.9.8.7", names: ["db", "db.local"] }]),
    hostsContent({ extra: [{ ip: "10.9.8.7", names: ["db", "db.local"] }] }),
  );
  assert.match(
    hostNetworkHosts(host, [{ ip: "10.9.8.7", names: ["db"] }]),
    /^127\.0\.0\.1\tlocalhost\n::1\t.*\n10\.9\.8\.7\tdb\n$/s,
  );
  const dir = tempDir();
  writeNetworkFiles(dir, {
    hostNetwork: true,
    hostname: "vm",
    hostResolvConf: "nameserver 127.0.0.53\nsearch lan\n",
  });
  // The host's loopback resolver serves a container on the host's network: kept as it is.
  assert.equal(Deno.readTextFileSync(`${dir}/resolv.conf`), "nameserver 127.0.0.53\nsearch lan\n");
  assert.equal(Deno.readTextFileSync(`${dir}/hostname`), "vm\n");
  writeNetworkFiles(dir, {
    hostNetwork: true,
    hostname: "vm",
    hostResolvConf: "nameserver 127.0.0.53\n",
    dns: ["9.9.9.9"],
  });
  assert.equal(Deno.readTextFileSync(`${dir}/resolv.conf`), "nameserver 9.9.9.9\n");
});
