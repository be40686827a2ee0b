/**
 * Bridge networks on the real kernel, as root. Each "container" is a process
 * in its own network namespace (`unshare --net busybox httpd ...` or
 * `unshare --net sleep`); the tests attach it to networks of their own
 * (bridges ctrt<random>, subnets 10.2xx.*, an nft table ctrt<random>, a
 * temporary store and state directory), send traffic only to 127.0.0.1 and to
 * the addresses they give, and check at the end that every bridge, veth,
 * rule, lease and listener is gone and ip_forward is as it was.
 */
import assert from "node:assert/strict";
import { rootTest, tempDir } from "../_helpers.ts";
import {
  attachContainer,
  type Attachment,
  ensureBridge,
  reclaimStale,
} from "../../lib/network/bridge.ts";
import { conflictingRoute, parseSubnet } from "../../lib/network/ipam.ts";
import { Rtnl } from "../../lib/network/link.ts";
import {
  findTool,
  Nat,
  type NatBackend,
  readForwarding,
  ruleComment,
} from "../../lib/network/nat.ts";
import { deleteBridge, NetworkStore } from "../../lib/network/networks.ts";
import { Nftables } from "../../lib/network/nft.ts";
import { parsePortSpec } from "../../lib/network/ports.ts";

const hostLinks = () => [...Deno.readDirSync("/sys/class/net")].map((e) => e.name).sort();
const hex = (n: number) =>
  [...crypto.getRandomValues(new Uint8Array(n))].map((b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
const newId = () => hex(32);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dec = new TextDecoder();
const BACKENDS = ["nft", "iptables"] as const;

/** A process in a network namespace of its own. */
interface Proc {
  pid: number;
  stop(): Promise<void>;
}

/** A test's networks, store, rules and processes, all removed by done(). */
class Env {
  readonly procs: Proc[] = [];
  readonly attachments: Attachment[] = [];
  readonly store: NetworkStore;
  readonly nat: Nat;
  readonly sfx = hex(3);
  readonly #before = { links: hostLinks(), forward: readForwarding() };
  #octets: number[];

  constructor(backend?: NatBackend, routes?: () => never[]) {
    this.#octets = freeOctets(4);
    this.store = new NetworkStore({
      root: tempDir(),
      stateDir: tempDir(),
      defaultNetwork: { bridge: `ctrt${this.sfx}`, subnet: `10.${this.#octets[0]}.0.0/24` },
      pool: `10.${this.#octets[1]}.0.0/16`,
      ...(routes ? { routes } : {}),
    });
    this.nat = new Nat({ stateDir: this.store.stateDir, table: `ctrt${this.sfx}`, backend });
  }

  /** A /24 of this test's own range (2 or 3), for user-defined networks with a given subnet. */
  subnet(range: 2 | 3, third = 0): string {
    return `10.${this.#octets[range]}.${third}.0/24`;
  }

  /** Starts `cmd` in a new network namespace; waits until it is there. */
  async spawn(cmd: string[] = ["sleep", "120"]): Promise<Proc> {
    const own = Deno.readLinkSync("/proc/self/ns/net");
    const child = new Deno.Command("unshare", {
      args: ["--net", ...cmd],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const proc = {
      pid: child.pid,
      async stop() {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        await child.status;
      },
    };
    this.procs.push(proc);
    for (let i = 0;; i++) {
      try {
        if (Deno.readLinkSync(`/proc/${child.pid}/ns/net`) !== own) break;
      } catch { /* not yet */ }
      if (i === 500) throw new Error(`${cmd[0]} did not enter a new network namespace`);
      await sleep(10);
    }
    return proc;
  }

  /** An httpd serving `text` on port 8080 of its own namespace. */
  async httpd(text: string): Promise<Proc> {
    const dir = tempDir();
    Deno.writeTextFileSync(`${dir}/index.html`, text);
    const p = await this.spawn(["busybox", "httpd", "-f", "-p", "8080", "-h", dir]);
    // It listens once it has run its first lines; wait for the socket inside.
    for (let i = 0; i < 200 && !listening(p.pid, 8080); i++) await sleep(10);
    return p;
  }

  async attach(
    o: Omit<Parameters<typeof attachContainer>[0], "store" | "nat" | "containerId"> & {
      containerId?: string;
    },
  ): Promise<Attachment> {
    const a = await attachContainer({
      store: this.store,
      nat: this.nat,
      containerId: newId(),
      ...o,
    });
    this.attachments.push(a);
    return a;
  }

  /** Tears down what is left, deletes the bridges and checks that nothing remains. */
  async done(): Promise<void> {
    const errors: unknown[] = [];
    for (const a of this.attachments) await a.teardown().catch((e) => errors.push(e));
    for (const p of this.procs) await p.stop();
    for (const n of this.store.list()) {
      assert.deepEqual(this.store.leases(n).list(), [], `no lease left in ${n.name}`);
      if (n.builtin) deleteBridge(n.bridge);
      else await this.store.remove(n.name);
    }
    if (errors.length > 0) throw errors[0];
    assert.deepEqual(hostLinks(), this.#before.links, "every bridge and veth is gone");
    assert.equal(await this.nat.exists(), false, "the rules' table (or chains) is gone");
    assert.equal(readForwarding(), this.#before.forward, "ip_forward is as it was");
  }
}

/** `count` distinct second octets in 10.200-10.250 that no host route covers. */
function freeOctets(count: number): number[] {
  using net = Rtnl.open();
  const routes = net.listRoutes();
  const out: number[] = [];
  while (out.length < count) {
    const o = 200 + Math.floor(Math.random() * 51);
    if (!out.includes(o) && !conflictingRoute(parseSubnet(`10.${o}.0.0/16`), routes)) out.push(o);
  }
  return out;
}

/** Whether a TCP socket (IPv4 or IPv6) listens on `port` in the network namespace of `pid`. */
function listening(pid: number, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  return ["tcp", "tcp6"].some((file) =>
    Deno.readTextFileSync(`/proc/${pid}/net/${file}`).split("\n").slice(1).some((l) => {
      const f = l.trim().split(/\s+/);
      return f[1]?.endsWith(`:${hexPort}`) && f[3] === "0A";
    })
  );
}

/** GET / over plain TCP (no proxy settings can redirect it); the body, or throws. */
async function httpGet(host: string, port: number, timeoutMs = 3000): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`GET http://${host}:${port}/ timed out`)), timeoutMs);
  });
  try {
    return await Promise.race([
      timeout,
      (async () => {
        const conn = await Deno.connect({ hostname: host, port });
        try {
          await conn.write(new TextEncoder().encode(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
          const chunks: Uint8Array[] = [];
          const buf = new Uint8Array(4096);
          for (let n; (n = await conn.read(buf)) !== null;) chunks.push(buf.slice(0, n));
          const text = dec.decode(new Uint8Array(chunks.flatMap((c) => [...c])));
          assert.match(text, /^HTTP\/1\.[01] 200/);
          return text.slice(text.indexOf("\r\n\r\n") + 4);
        } finally {
          conn.close();
        }
      })(),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * GET http://host:port/ from inside the namespace of `pid` with `busybox nc`
 * (busybox 1.35's wget crashes with -q or -T in some runs); the body, or
 * undefined when nothing answered within 2 s.
 */
async function getFrom(pid: number, host: string, port: number): Promise<string | undefined> {
  const child = new Deno.Command("timeout", {
    args: ["4", "nsenter", "-t", String(pid), "-n", "busybox", "nc", "-w", "2", host, String(port)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
  await w.close();
  const out = await child.output();
  const text = dec.decode(out.stdout);
  if (!/^HTTP\/1\.[01] 200/.test(text)) return undefined;
  return text.slice(text.indexOf("\r\n\r\n") + 4);
}

/** `ip -j ARGS` inside the namespace of `pid`. */
function ipJson(pid: number, ...args: string[]): any[] {
  const out = new Deno.Command("nsenter", {
    args: ["-t", String(pid), "-n", "ip", "-j", ...args],
    stdout: "piped",
  }).outputSync();
  return JSON.parse(dec.decode(out.stdout) || "[]");
}

async function withEnv(fn: (env: Env) => Promise<void>, backend?: NatBackend): Promise<void> {
  const env = new Env(backend);
  let failure: unknown;
  try {
    await fn(env);
  } catch (e) {
    failure = e;
  }
  try {
    await env.done();
  } catch (e) {
    failure ??= e;
  }
  if (failure) throw failure;
}

rootTest("attachContainer: the host reaches a container's httpd at its address", async () => {
  await withEnv(async (env) => {
    const web = await env.httpd("hello from a");
    const filesDir = tempDir();
    const a = await env.attach({
      pid: web.pid,
      hostname: "web",
      name: "a",
      masquerade: false,
      filesDir,
    });
    const net = env.store.get("bridge");
    assert.equal(a.ip, net.gateway.replace(/\.1$/, ".2"), "the lowest free address");
    assert.equal(
      a.mac,
      `02:42:0a:${
        a.ip.split(".").slice(1).map((n) => Number(n).toString(16).padStart(2, "0")).join(":")
      }`,
    );
    assert.deepEqual(a.warnings, []);

    assert.equal(await httpGet(a.ip, 8080), "hello from a");
    const eth0 = ipJson(web.pid, "addr", "show", "eth0")[0];
    assert.equal(eth0.address, a.mac);
    assert.ok(eth0.addr_info.some((x: any) => x.local === a.ip && x.prefixlen === 24));
    assert.ok(ipJson(web.pid, "link", "show", "lo")[0].flags.includes("UP"));
    assert.ok(
      ipJson(web.pid, "route").some((r) => r.dst === "default" && r.gateway === net.gateway),
    );
    using host = Rtnl.open();
    assert.equal(host.getLink(a.vethHost).master, net.bridge);
    assert.equal(host.getLink(net.bridge).mac, "02:42:0a:" + a.mac.slice(9, 14) + ":01");
    assert.equal(env.store.leases("bridge").list()[0].containerId, a.containerId);
    assert.match(
      Deno.readTextFileSync(a.files!.hosts),
      new RegExp(`\n${a.ip.replaceAll(".", "\\.")}\tweb a\n$`),
    );
    assert.equal(Deno.readTextFileSync(a.files!.hostname), "web\n");
    assert.match(Deno.readTextFileSync(a.files!.resolvConf), /^nameserver /);

    await a.teardown();
    await a.teardown(); // a second call does nothing
    assert.equal(host.findLink(a.vethHost), undefined);
    assert.ok(host.findLink(net.bridge), "the bridge stays");
    assert.deepEqual(env.store.leases("bridge").list(), []);
    assert.deepEqual(ipJson(web.pid, "link", "show").map((l) => l.ifname), ["lo"]);
  });
});

rootTest(
  "attachContainer: peers on one user-defined network reach each other, other networks do not",
  async () => {
    await withEnv(async (env) => {
      const n1 = await env.store.create({ name: "front" });
      const n2 = await env.store.create({ name: "back" });
      assert.notEqual(n1.bridge, n2.bridge);
      const [pa, pb, pc] = [await env.httpd("A"), await env.httpd("B"), await env.httpd("C")];
      const [fa, fb] = [tempDir(), tempDir()];
      const a = await env.attach({
        network: "front",
        pid: pa.pid,
        name: "a",
        hostname: "ha",
        filesDir: fa,
      });
      const b = await env.attach({
        network: "front",
        pid: pb.pid,
        name: "b",
        aliases: ["bee"],
        filesDir: fb,
      });
      const c = await env.attach({ network: "back", pid: pc.pid, name: "c" });
      if (env.nat.backend !== "none") {
        assert.equal(readForwarding(), "1", "forwarding is on: only the rules keep networks apart");
      }
      assert.equal(await getFrom(pa.pid, b.ip, 8080), "B");
      assert.equal(await getFrom(pb.pid, a.ip, 8080), "A");
      assert.equal(
        await getFrom(pa.pid, n1.gateway, 1),
        undefined,
        "nothing on port 1",
      );
      assert.equal(
        await getFrom(pa.pid, c.ip, 8080),
        undefined,
        "front does not reach back",
      );
      assert.equal(
        await getFrom(pc.pid, b.ip, 8080),
        undefined,
        "back does not reach front",
      );

      // Each hosts file names the other peer, a's rewritten in place when b joined.
      assert.match(Deno.readTextFileSync(`${fa}/hosts`), new RegExp(`\n${b.ip}\tb bee\n`));
      assert.match(Deno.readTextFileSync(`${fb}/hosts`), new RegExp(`\n${a.ip}\ta ha\n`));
      assert.doesNotMatch(Deno.readTextFileSync(`${fa}/hosts`), new RegExp(c.ip));
      await b.teardown();
      assert.doesNotMatch(
        Deno.readTextFileSync(`${fa}/hosts`),
        new RegExp(b.ip),
        "b left a's hosts",
      );
      await assert.rejects(() => env.store.remove("front"), /in use by container/);
    });
  },
);

rootTest("attachContainer: 20 in parallel get 20 addresses; teardown leaves nothing", async () => {
  await withEnv(async (env) => {
    const links = hostLinks().length;
    const procs = await Promise.all(Array.from({ length: 20 }, () => env.spawn()));
    const all = await Promise.all(
      procs.map((p) => env.attach({ pid: p.pid, ports: [parsePortSpec("127.0.0.1::80")] })),
    );
    assert.equal(new Set(all.map((a) => a.ip)).size, 20);
    assert.equal(new Set(all.map((a) => a.ports[0].hostPort)).size, 20);
    assert.equal(hostLinks().length, links + 21, "20 veths and the bridge");
    assert.equal(env.store.leases("bridge").list().length, 20);
    const ports = all.map((a) => a.ports[0].hostPort);
    assert.ok(ports.every((p) => listening(Deno.pid, p)), "every proxy listens");
    if (env.nat.backend !== "none") {
      const rules = await env.nat.list();
      for (const a of all) {
        // the isolation rule and the masquerade: no DNAT for a loopback-only port
        assert.equal(rules.filter((r) => r.comment === ruleComment(a.containerId)).length, 2);
      }
    }
    await Promise.all(all.map((a) => a.teardown()));
    assert.equal(hostLinks().length, links + 1, "only the bridge is left");
    assert.deepEqual(env.store.leases("bridge").list(), []);
    assert.deepEqual(await env.nat.list(), []);
    assert.ok(!ports.some((p) => listening(Deno.pid, p)), "no proxy listens");
  });
});

rootTest("reclaimStale: a killed container's lease and rules are removed", async () => {
  await withEnv(async (env) => {
    const p = await env.spawn();
    const q = await env.spawn();
    const a = await env.attach({ pid: p.pid });
    const b = await env.attach({ pid: q.pid });
    await p.stop(); // as if ctr and its container were killed: no teardown
    using host = Rtnl.open();
    for (let i = 0; i < 100 && host.findLink(a.vethHost); i++) await sleep(20);
    assert.equal(host.findLink(a.vethHost), undefined, "the veth went with the namespace");
    assert.deepEqual((await reclaimStale(env)).map((l) => l.containerId), [a.containerId]);
    assert.deepEqual(env.store.leases("bridge").list().map((l) => l.containerId), [b.containerId]);
    assert.deepEqual([...new Set((await env.nat.list()).map((r) => r.comment))], [
      ...(env.nat.backend === "none" ? [] : [ruleComment(b.containerId)]),
    ]);
    assert.deepEqual(await reclaimStale(env), []);
    await a.teardown(); // a late teardown finds nothing left and does not fail
  });
});

rootTest(
  "published ports: the proxy on 127.0.0.1 reaches a container's TCP and UDP ports",
  async () => {
    await withEnv(async (env) => {
      const web = await env.httpd("through the proxy");
      const a = await env.attach({
        pid: web.pid,
        masquerade: false,
        ports: [parsePortSpec("127.0.0.1::8080")],
      });
      const port = a.ports[0].hostPort;
      assert.ok(port > 0);
      const bodies = await Promise.all([1, 2, 3].map(() => httpGet("127.0.0.1", port)));
      assert.deepEqual(bodies, Array(3).fill("through the proxy"));
      await a.teardown();
      await assert.rejects(() => httpGet("127.0.0.1", port), /refused|timed out/i);

      // UDP: an echo server (Deno, node:dgram) as the container.
      const echo = await env.spawn([
        Deno.execPath(),
        "eval",
        `import dgram from "node:dgram"; import { Buffer } from "node:buffer";
       const s = dgram.createSocket("udp4");
       s.on("message", (m, r) => s.send(Buffer.concat([Buffer.from("echo:"), m]), r.port, r.address));
       s.bind(5353, "0.0.0.0");`,
      ]);
      const u = await env.attach({
        pid: echo.pid,
        masquerade: false,
        ports: [parsePortSpec("127.0.0.1::5353/udp")],
      });
      const { default: dgram } = await import("node:dgram");
      const client = dgram.createSocket("udp4");
      try {
        let reply: string | undefined;
        client.on("message", (m) => reply = String(m));
        for (let i = 0; i < 50 && reply === undefined; i++) {
          client.send("ping", u.ports[0].hostPort, "127.0.0.1"); // the echo may still be starting
          await sleep(100);
        }
        assert.equal(reply, "echo:ping");
        assert.equal(u.proxies[0].active, 1, "one flow");
      } finally {
        client.close();
      }
      await u.teardown();
      assert.equal(u.proxies[0].active, 0);
    });
  },
);

for (const backend of BACKENDS) {
  const name = `published ports: ${backend} DNAT reaches a container from another network`;
  const missing = backend === "nft"
    ? (Nftables.available({ family: "ip", table: "ctr" })
      ? undefined
      : "the kernel has no nf_tables")
    : (findTool(backend) ? undefined : `${backend} is not installed`);
  if (missing) {
    Deno.test({ name: `${name} [skipped: ${missing}]`, ignore: true, fn() {} });
    continue;
  }
  rootTest(
    name,
    async () => {
      const had = ["nat", "filter"].filter(nftTableExists);
      try {
        await withEnv(async (env) => {
          const clients = await env.store.create({ name: "clients", subnet: env.subnet(2) });
          await env.store.create({ name: "servers", subnet: env.subnet(3) });
          const server = await env.httpd("through DNAT");
          const client = await env.spawn();
          const c = await env.attach({ network: "clients", pid: client.pid, masquerade: false });
          // Published on the clients' gateway (a host address this test made), no proxy: only DNAT answers.
          const port = 20000 + Math.floor(Math.random() * 20000);
          const s = await env.attach({
            network: "servers",
            pid: server.pid,
            masquerade: false,
            proxy: false,
            ports: [{
              hostIp: clients.gateway,
              hostPort: port,
              containerPort: 8080,
              protocol: "tcp",
            }],
          });
          assert.equal(readForwarding(), "1");
          const mine = (await env.nat.list()).filter((r) =>
            r.comment === ruleComment(s.containerId)
          );
          assert.equal(
            mine.length,
            3,
            "isolation and DNAT (nft: prerouting and output; iptables: two for isolation)",
          );
          assert.equal(
            await getFrom(client.pid, clients.gateway, port),
            "through DNAT",
          );
          assert.equal(
            await getFrom(client.pid, s.ip, 8080),
            undefined,
            "not directly",
          );

          await s.teardown();
          assert.equal(
            (await env.nat.list()).filter((r) => r.comment === ruleComment(s.containerId)).length,
            0,
          );
          assert.deepEqual(
            [...new Set((await env.nat.list()).map((r) => r.comment))],
            [ruleComment(c.containerId)],
            "the client's isolation rule stays",
          );
          assert.equal(await getFrom(client.pid, clients.gateway, port), undefined);
          await c.teardown();
          assert.equal(await env.nat.exists(), false);
        }, backend);
      } finally {
        if (backend === "iptables") cleanIptablesTables(had);
      }
    },
  );
}

function nftTableExists(table: string): boolean {
  return !!findTool("nft") &&
    new Deno.Command("nft", {
      args: ["list", "table", "ip", table],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
}

/**
 * iptables-nft leaves tables `ip nat` and `ip filter` with empty built-in
 * chains: those the test made (not in `had`) are removed when no rule is in them.
 */
function cleanIptablesTables(had: string[]): void {
  if (!findTool("nft")) return;
  for (const table of ["nat", "filter"].filter((t) => !had.includes(t))) {
    const out = new Deno.Command("nft", {
      args: ["-j", "list", "table", "ip", table],
      stdout: "piped",
      stderr: "null",
    })
      .outputSync();
    if (!out.success) continue;
    const items = JSON.parse(dec.decode(out.stdout)).nftables as Record<string, unknown>[];
    if (!items.some((o) => "rule" in o)) {
      new Deno.Command("nft", { args: ["delete", "table", "ip", table], stderr: "null" })
        .outputSync();
    }
  }
}

rootTest(
  "attachContainer errors: --ip outside or taken, overlapping subnets, routes, gone pids",
  async () => {
    await withEnv(async (env) => {
      const links = hostLinks();
      const p1 = await env.spawn();
      const p2 = await env.spawn();
      const net = env.store.get("bridge");
      const outside = `10.${
        Number(net.subnet.split(".")[1]) === 255 ? 254 : Number(net.subnet.split(".")[1]) + 1
      }.0.9`;
      await assert.rejects(
        () => env.attach({ pid: p1.pid, ip: outside }),
        new RegExp(
          `^Error: Cannot use --ip ${outside}: it is outside the subnet of network bridge`,
        ),
      );
      assert.deepEqual(hostLinks(), links, "nothing made: the address is checked first");
      const fixed = net.gateway.replace(/\.1$/, ".77");
      const a = await env.attach({ pid: p1.pid, ip: fixed, masquerade: false });
      assert.equal(a.ip, fixed);
      await assert.rejects(
        () => env.attach({ pid: p2.pid, ip: fixed }),
        /it is in use by container/,
      );
      await assert.rejects(() => env.attach({ pid: p2.pid, ip: net.gateway }), /it is the gateway/);
      await assert.rejects(
        () => env.store.create({ name: "x", subnet: net.subnet }),
        /overlaps network bridge/,
      );
      await assert.rejects(() => env.attach({ pid: 0x3fffffff }), /process 1073741823 is gone/);
      await assert.rejects(
        () => env.attach({ pid: Deno.pid }),
        /Cannot attach process \d+ to a network: it is in ctr's own network namespace/,
      );
      await assert.rejects(
        () => env.attach({ pid: p2.pid, network: "nosuch" }),
        /No such network: nosuch/,
      );
      assert.throws(
        () => parsePortSpec("8080:80/icmp"),
        /invalid port spec "8080:80\/icmp": protocol "icmp"/,
      );
      // A failure after the veth was made undoes it (the proxy cannot bind a taken port).
      const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        await assert.rejects(
          () =>
            env.attach({ pid: p2.pid, ports: [parsePortSpec(`127.0.0.1:${taken.addr.port}:80`)] }),
          /the address is in use/,
        );
      } finally {
        taken.close();
      }
      assert.equal(env.store.leases("bridge").list().length, 1, "only a's lease");
      assert.equal(hostLinks().length, links.length + 2, "a's veth and the bridge");
      await a.teardown();

      // A default network whose subnet a host route covers: refused before the bridge is made.
      const routed = new NetworkStore({
        root: tempDir(),
        stateDir: tempDir(),
        defaultNetwork: { bridge: `ctrt${env.sfx}r`, subnet: "10.254.0.0/24" },
        routes: () => [{
          family: "inet",
          dst: "10.254.0.0/16",
          dev: "wg9",
          table: 254,
          protocol: "boot",
          scope: "link",
          type: "unicast",
        }],
      });
      assert.throws(
        () => ensureBridge(routed, routed.get("bridge")),
        /^Error: Subnet 10.254.0.0\/24 of network bridge overlaps the host route 10.254.0.0\/16 dev wg9: choose another subnet$/,
      );
      await assert.rejects(
        () => attachContainer({ store: routed, nat: env.nat, containerId: newId(), pid: p2.pid }),
        /overlaps the host route/,
      );
      assert.deepEqual(routed.leases("bridge").list(), []);
    });
  },
);

rootTest("Nat without nf_tables or iptables warns by name and changes nothing", async () => {
  const forward = readForwarding();
  await withEnv(async (env) => {
    const p = await env.spawn();
    const a = await env.attach({
      pid: p.pid,
      ports: [parsePortSpec("127.0.0.1::80"), parsePortSpec("8080:80")],
      proxy: false,
    });
    assert.deepEqual(a.warnings.slice(0, 2), [
      "published ports need nftables or iptables: the kernel has no nf_tables and iptables was not found",
      "outbound NAT needs nftables or iptables: the kernel has no nf_tables and iptables was not found",
    ]);
    assert.equal(readForwarding(), forward);
  }, "none");
});
