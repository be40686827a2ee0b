/**
 * Networking through `ctr run` (root): a container on the bridge serves HTTP
 * to the host at its address and through a published port on 127.0.0.1;
 * containers on one user-defined network reach each other by name; parallel
 * starts get distinct addresses; nothing is left after they exit. Traffic
 * goes only to 127.0.0.1 and to the containers' own addresses.
 */
import assert from "node:assert/strict";
import {
  ctr,
  fetchText,
  rootTest,
  ruleText,
  startContainer,
  tempDir,
  tempStore,
  testRootfs,
} from "../_helpers.ts";

const store = tempStore();
/** `ctr run --rm` on this file's store, never pulling: tests send no traffic to registries. */
const runLocal = (args: string[], opts: { stdin?: string } = {}) =>
  ctr(["--root", store, "run", "--rm", "--pull", "never", ...args], opts);
const links = () => [...Deno.readDirSync("/sys/class/net")].map((e) => e.name).sort();
const hadBridge = links().includes("ctr0");

function nftTables(): string {
  try {
    return new TextDecoder().decode(
      new Deno.Command("nft", { args: ["list", "tables"], stdout: "piped" }).outputSync().stdout,
    );
  } catch {
    return "";
  }
}

async function containerIp(pid: number): Promise<string> {
  const r = await ctr([
    "enter",
    String(pid),
    "--ns",
    "net",
    "ip",
    "-o",
    "-4",
    "addr",
    "show",
    "eth0",
  ]);
  const m = r.stdout.match(/inet (\d+\.\d+\.\d+\.\d+)\//);
  assert.ok(m, r.stdout + r.stderr);
  return m[1];
}

function www(): string {
  const d = tempDir();
  Deno.chmodSync(d, 0o755);
  Deno.writeTextFileSync(`${d}/index.html`, "hello from ctr\n");
  return d;
}

async function cleanupBridge() {
  if (!hadBridge && links().includes("ctr0")) {
    await new Deno.Command("ip", { args: ["link", "del", "ctr0"] }).output();
  }
}

rootTest(
  "network: the host fetches a container's page at its address and through -p on 127.0.0.1",
  async () => {
    const before = links();
    const port = 20000 + Math.floor(Math.random() * 20000);
    const c = await startContainer(store, [
      "--net",
      "-p",
      `${port}:80`,
      "-v",
      `${www()}:/www:ro`,
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/www",
    ]);
    try {
      const ip = await containerIp(c.pid);
      assert.match(ip, /^10\.123\./);
      assert.equal(await fetchText(`http://${ip}/`), "hello from ctr\n");
      assert.equal(await fetchText(`http://127.0.0.1:${port}/`), "hello from ctr\n");
      const hosts = await ctr(["enter", String(c.pid), "cat", "/etc/hosts"]);
      assert.match(hosts.stdout, new RegExp(`^${ip.replaceAll(".", "\\.")}\\s`, "m"));
    } finally {
      await c.stop();
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      links().filter((l) => l !== "ctr0"),
      before.filter((l) => l !== "ctr0"),
      "no veth left",
    );
    assert.doesNotMatch(nftTables(), /table ip ctr/);
    await cleanupBridge();
  },
);

rootTest(
  "network: two containers on a user network reach each other by name; another network does not",
  async () => {
    const net = `t${Math.floor(Math.random() * 1e6)}`;
    const other = `${net}x`;
    assert.equal((await ctr(["--root", store, "network", "create", net])).code, 0);
    assert.equal((await ctr(["--root", store, "network", "create", other])).code, 0);
    const web = await startContainer(store, [
      `--net=${net}`,
      "--name",
      `${net}-web`,
      "-v",
      `${www()}:/www:ro`,
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/www",
    ]);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const ok = await runLocal([
        `--net=${net}`,
        "--rootfs",
        testRootfs(),
        "sh",
        "-c",
        `echo 'GET / HTTP/1.0' | nc ${net}-web 80 | tail -1`,
      ]);
      assert.equal(ok.stdout.trim(), "hello from ctr", ok.stderr);
      const ip = await containerIp(web.pid);
      const no = await runLocal([
        `--net=${other}`,
        "--rootfs",
        testRootfs(),
        "sh",
        "-c",
        `echo 'GET / HTTP/1.0' | timeout 2 nc ${ip} 80; echo rc=$?`,
      ]);
      assert.doesNotMatch(no.stdout, /hello from ctr/);
    } finally {
      await web.stop();
      await ctr(["--root", store, "network", "rm", net]);
      await ctr(["--root", store, "network", "rm", other]);
    }
    const ls = await ctr(["--root", store, "network", "ls"]);
    assert.doesNotMatch(ls.stdout, new RegExp(net));
    await cleanupBridge();
  },
);

rootTest(
  "network: 20 containers started in parallel get 20 distinct addresses, and leave nothing",
  async () => {
    const before = links().filter((l) => l !== "ctr0");
    // Every container holds its address until all 20 have one: each leaves a
    // file in a shared directory and waits for "go" (on a slow host, the
    // first could otherwise end, and free its address, before the last starts).
    const sync = tempDir();
    let settled = 0;
    const running = Promise.all(Array.from({ length: 20 }, () =>
      runLocal([
        "--net",
        "-v",
        `${sync}:/sync`,
        "--rootfs",
        testRootfs(),
        "sh",
        "-c",
        "ip -o -4 addr show eth0; touch /sync/$(hostname); " +
        "i=0; while [ ! -e /sync/go ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done",
      ]).finally(() => settled++)));
    while ([...Deno.readDirSync(sync)].length < 20 && settled === 0) {
      await new Promise((r) => setTimeout(r, 100));
    }
    Deno.writeTextFileSync(`${sync}/go`, "");
    const runs = await running;
    const ips = runs.map((r) => {
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.match(/inet (\S+)\//)![1];
    });
    assert.equal(new Set(ips).size, 20, ips.join(" "));
    assert.deepEqual(
      links().filter((l) => l !== "ctr0"),
      before,
    );
    const leases = JSON.parse(Deno.readTextFileSync("/run/ctr/networks/bridge.json"));
    assert.deepEqual(leases.leases, []);
    assert.doesNotMatch(nftTables(), /table ip ctr/);
    await cleanupBridge();
  },
);

rootTest("network: bad network flags are clear errors", async () => {
  for (
    const [args, re] of [
      [["-p", "99999:80"], /port/i],
      [["--net=host", "-p", "8080:80"], /need a container network/],
      [["--net=no-such-net"], /No such network/],
      [["--net", "--ip", "192.0.2.9"], /192\.0\.2\.9/],
    ] as [string[], RegExp][]
  ) {
    const r = await runLocal([
      ...args,
      "--rootfs",
      testRootfs(),
      "true",
    ]);
    assert.equal(r.code, 125, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  await cleanupBridge();
});

rootTest(
  "network: --net=container:NAME shares its eth0; --net=ns:PATH joins a pinned namespace",
  async () => {
    const name = `src${Math.floor(Math.random() * 1e6)}`;
    const src = await startContainer(store, ["--net", "--name", name, "sleep", "60"]);
    const pin = `${tempDir()}/net`;
    try {
      const ip = await containerIp(src.pid);
      const inode = Deno.readLinkSync(`/proc/${src.pid}/ns/net`);
      const shared = await ctr([
        "--root",
        store,
        "run",
        "--rm",
        `--net=container:${name}`,
        "--rootfs",
        testRootfs(),
        "sh",
        "-c",
        "ip -o -4 addr show eth0; readlink /proc/self/ns/net",
      ]);
      assert.equal(shared.code, 0, shared.stderr);
      assert.match(shared.stdout, new RegExp(`inet ${ip.replaceAll(".", "\\.")}/`));
      assert.match(shared.stdout, new RegExp(inode.replace(/[[\]]/g, "\\$&")));
      assert.equal((await ctr(["ns", "pin", String(src.pid), "--ns", "net", pin])).code, 0);
      const pinned = await ctr([
        "--root",
        store,
        "run",
        "--rm",
        `--net=ns:${pin}`,
        "--rootfs",
        testRootfs(),
        "readlink",
        "/proc/self/ns/net",
      ]);
      assert.equal(pinned.stdout.trim(), inode, pinned.stderr);
      const gone = await ctr([
        "--root",
        store,
        "run",
        "--rm",
        "--net=container:no-such-container",
        "--rootfs",
        testRootfs(),
        "true",
      ]);
      assert.equal(gone.code, 125);
      assert.match(gone.stderr, /No such container: no-such-container/);
    } finally {
      await ctr(["ns", "unpin", pin]);
      await src.stop();
    }
    await cleanupBridge();
  },
);

rootTest(
  "network: driver options and --internal shape the bridge, the interface, the routes and the rules",
  async () => {
    const tag = Math.floor(Math.random() * 1e6).toString(36);
    const opts = `opt${tag}`;
    const internal = `int${tag}`;
    const bridge = `ctr-o${tag}`;
    const net = (args: string[]) => ctr(["--root", store, "network", ...args]);
    const nft = () =>
      new TextDecoder().decode(
        new Deno.Command("nft", { args: ["list", "table", "ip", "ctr"], stdout: "piped" })
          .outputSync().stdout,
      );
    try {
      // Refused before anything is made, each naming the option.
      for (
        const [bad, why] of [
          [["-o", "com.docker.network.driver.mtu=abc"], /driver\.mtu: 68-65535/],
          [["-o", "com.docker.network.bridge.enable_icc=false"], /enable_icc=false is not supp/],
          [["-o", "com.docker.network.bridge.name=br-x"], /must start with "ctr"/],
          [["-o", "novalue"], /Invalid option "novalue": KEY=VALUE/],
          [["--ipv6"], /--ipv6.*IPv4/],
        ] as const
      ) {
        const r = await net(["create", ...bad, `bad${tag}`]);
        assert.equal(r.code, 125, `${bad.join(" ")}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, why);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      }
      assert.doesNotMatch((await net(["ls"])).stdout, new RegExp(`bad${tag}`));
      const help = await net(["create", "--help"]);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /ctr network create .*--internal/);
      assert.match(help.stdout, /-o, --opt K=V/);

      const made = await net([
        "create",
        "-o",
        `com.docker.network.bridge.name=${bridge}`,
        "-o",
        "com.docker.network.driver.mtu=1400",
        "-o",
        "com.docker.network.bridge.enable_ip_masquerade=false",
        "-o",
        "com.docker.network.container_iface_prefix=net",
        "--label",
        "tier=front",
        opts,
      ]);
      assert.equal(made.code, 0, made.stderr);
      const inspect = JSON.parse((await net(["inspect", opts])).stdout)[0];
      assert.deepEqual(inspect.Options, {
        "com.docker.network.bridge.name": bridge,
        "com.docker.network.driver.mtu": "1400",
        "com.docker.network.bridge.enable_ip_masquerade": "false",
        "com.docker.network.container_iface_prefix": "net",
      });
      assert.deepEqual(inspect.Labels, { tier: "front" });
      assert.equal(inspect.Internal, false);
      const gw = inspect.IPAM.Config[0].Gateway;

      const box = await startContainer(store, ["--network", opts, "sleep", "60"]);
      try {
        const inside = await ctr([
          "enter",
          String(box.pid),
          "--ns",
          "net",
          "sh",
          "-c",
          "ip -o link show net0; ip route; ip -o -4 addr show net0",
        ]);
        assert.equal(inside.code, 0, inside.stderr);
        assert.match(inside.stdout, /net0(@\S+)?: .* mtu 1400 /);
        assert.match(inside.stdout, new RegExp(`default via ${gw.replaceAll(".", "\\.")}`));
        const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(inside.stdout)![1];
        assert.ok(links().includes(bridge), `bridge ${bridge} made`);
        // The network says no masquerade: the container has its isolation rule only.
        const rules = nft();
        assert.match(rules, new RegExp(`iifname "${bridge}"`));
        assert.doesNotMatch(
          rules,
          new RegExp(`ip saddr ${ip.replaceAll(".", "\\.")} .*masquerade`),
        );
      } finally {
        await box.stop();
      }

      assert.equal((await net(["create", "--internal", internal])).code, 0);
      assert.equal(JSON.parse((await net(["inspect", internal])).stdout)[0].Internal, true);
      const sealed = await startContainer(store, ["--network", internal, "sleep", "60"]);
      try {
        const inside = await ctr([
          "enter",
          String(sealed.pid),
          "--ns",
          "net",
          "sh",
          "-c",
          "ip route; ip -o -4 addr show eth0",
        ]);
        assert.equal(inside.code, 0, inside.stderr);
        assert.doesNotMatch(inside.stdout, /default/, "an internal network has no route out");
        const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(inside.stdout)![1].replaceAll(".", "\\.");
        const rules = nft();
        assert.match(rules, new RegExp(`ip saddr ${ip} iifname "[^"]+" oifname != "[^"]+" drop`));
        assert.match(rules, new RegExp(`ip daddr ${ip} oifname "[^"]+" iifname != "[^"]+" drop`));
        assert.doesNotMatch(rules, new RegExp(`ip saddr ${ip} .*masquerade`));
      } finally {
        await sealed.stop();
      }
    } finally {
      await net(["rm", opts]);
      await net(["rm", internal]);
    }
    assert.ok(!links().includes(bridge), `bridge ${bridge} removed with its network`);
    await cleanupBridge();
  },
);

rootTest(
  "network: connect and disconnect a running container, --network twice, nothing left",
  async () => {
    const tag = Math.floor(Math.random() * 1e6).toString(36);
    const [na, nb, ni] = [`na${tag}`, `nb${tag}`, `ni${tag}`];
    const c = (args: string[]) => ctr(["--root", store, ...args]);
    const ok = async (args: string[]) => {
      const r = await c(args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      return r.stdout.trim();
    };
    const run = (name: string, net: string) =>
      ok([
        "run",
        "-d",
        "--name",
        `${name}${tag}`,
        "--network",
        net,
        "--rootfs",
        testRootfs(),
        "sleep",
        "600",
      ]);
    const rules = () => ruleText();
    const ids: string[] = [];
    try {
      await ok(["network", "create", "--subnet", "10.124.201.0/24", na]);
      await ok(["network", "create", "--subnet", "10.124.202.0/24", nb]);
      const a = await run("a", na);
      const b = await run("b", nb);
      ids.push(a, b);
      const veth = `veth${a.slice(0, 8)}`;

      // Joined at once: eth1 on nb, b reached by name, b's hosts file names a.
      await ok(["network", "connect", "--alias", "aye", nb, `a${tag}`]);
      const addrs = await ok(["exec", `a${tag}`, "ip", "-o", "-4", "addr"]);
      assert.match(addrs, /eth0 +inet 10\.124\.201\.\d+\//);
      assert.match(addrs, /eth1 +inet 10\.124\.202\.\d+\//);
      assert.match(
        await ok(["exec", `a${tag}`, "ip", "route"]),
        /^default via 10\.124\.201\.1 dev eth0/m,
      );
      await ok(["exec", `a${tag}`, "ping", "-c1", "-W2", `b${tag}`]);
      assert.match(
        await ok(["exec", `b${tag}`, "cat", "/etc/hosts"]),
        new RegExp(`^10\\.124\\.202\\.\\d+\\s.*\\ba${tag}\\b.*\\baye\\b`, "m"),
      );
      assert.equal(
        await ok(["ps", "-f", `name=a${tag}`, "--format", "{{.Networks}}"]),
        `${na},${nb}`,
      );
      const nets = JSON.parse(
        await ok(["inspect", "-f", "{{json .NetworkSettings.Networks}}", `a${tag}`]),
      );
      assert.deepEqual(Object.keys(nets), [na, nb]);
      assert.match(nets[nb].IPAddress, /^10\.124\.202\./);
      assert.deepEqual(nets[nb].Aliases, ["aye"]);
      // docker's ids: the network's, and the endpoint's as network inspect lists it.
      const netInfo = JSON.parse(await ok(["network", "inspect", nb]))[0];
      assert.equal(nets[nb].NetworkID, netInfo.Id);
      assert.match(nets[nb].EndpointID, /^[0-9a-f]{64}$/);
      assert.equal(nets[nb].EndpointID, netInfo.Containers[a].EndpointID);
      assert.notEqual(nets[na].EndpointID, nets[nb].EndpointID);
      assert.ok(links().includes(`${veth}-1`), "the second endpoint's veth");
      assert.ok(rules().includes(`ctr:${a}-1`), "the second endpoint's rules");
      const twice = await c(["network", "connect", nb, `a${tag}`]);
      assert.equal(twice.code, 125);
      assert.match(twice.stderr, /already exists in network/);

      // Leaving its first network: eth0 and its rules go, the default route moves to nb.
      await ok(["network", "disconnect", na, `a${tag}`]);
      const left = await ok(["exec", `a${tag}`, "ip", "-o", "-4", "addr"]);
      assert.doesNotMatch(left, /eth0/);
      assert.match(
        await ok(["exec", `a${tag}`, "ip", "route"]),
        /^default via 10\.124\.202\.1 dev eth1/m,
      );
      assert.ok(!links().includes(veth) && links().includes(`${veth}-1`));
      assert.doesNotMatch(rules(), new RegExp(`ctr:${a}(?!-)`), "the first endpoint's rules went");

      // Started again, it joins what it is connected to: nb first (eth0), then na again.
      await ok(["stop", "-t", "0", `a${tag}`]);
      await ok(["network", "connect", na, `a${tag}`]);
      await ok(["start", `a${tag}`]);
      const again = await ok(["exec", `a${tag}`, "ip", "-o", "-4", "addr"]);
      assert.match(again, /eth0 +inet 10\.124\.202\.\d+\//);
      assert.match(again, /eth1 +inet 10\.124\.201\.\d+\//);

      // --network twice: both at the start, the long form's alias on the second.
      const both = await c([
        "run",
        "--rm",
        "--network",
        na,
        "--network",
        `name=${nb},alias=zed`,
        "--rootfs",
        testRootfs(),
        "sh",
        "-c",
        `ip -o -4 addr; ping -c1 -W2 b${tag} >/dev/null && echo reached`,
      ]);
      assert.equal(both.code, 0, both.stderr);
      assert.match(both.stdout, /eth0 +inet 10\.124\.201\./);
      assert.match(both.stdout, /eth1 +inet 10\.124\.202\./);
      assert.match(both.stdout, /reached/);

      // The first network internal (it leads nowhere): the next one takes the default route.
      await ok(["network", "create", "--internal", "--subnet", "10.124.205.0/24", ni]);
      const routes = await c([
        "run",
        "--rm",
        "--network",
        ni,
        "--network",
        nb,
        "--rootfs",
        testRootfs(),
        "ip",
        "route",
      ]);
      assert.equal(routes.code, 0, routes.stderr);
      assert.match(routes.stdout, /^default via 10\.124\.202\.1 dev eth1/m);
      assert.doesNotMatch(routes.stdout, /default via 10\.124\.205\./);
    } finally {
      if (ids.length) await c(["rm", "-f", ...ids]);
      await c(["network", "rm", na, nb, ni]);
    }
    for (const id of ids) {
      assert.deepEqual(links().filter((l) => l.startsWith(`veth${id.slice(0, 8)}`)), []);
      assert.ok(!rules().includes(`ctr:${id}`), "no rule of the container is left");
    }
    await cleanupBridge();
  },
);

rootTest(
  "network: ctr killed at each step of connecting a running container; disconnect and rm -f leave nothing",
  async () => {
    const tag = Math.floor(Math.random() * 1e6).toString(36);
    const [na, nb] = [`ka${tag}`, `kb${tag}`];
    const c = (args: string[], env?: Record<string, string>) =>
      ctr(["--root", store, ...args], { env });
    let id = "";
    try {
      assert.equal((await c(["network", "create", "--subnet", "10.124.203.0/24", na])).code, 0);
      assert.equal((await c(["network", "create", "--subnet", "10.124.204.0/24", nb])).code, 0);
      const r = await c([
        "run",
        "-d",
        "--name",
        `k${tag}`,
        "--network",
        na,
        "--rootfs",
        testRootfs(),
        "sleep",
        "600",
      ]);
      assert.equal(r.code, 0, r.stderr);
      id = r.stdout.trim();
      for (
        const m of [
          "connect: recorded",
          "network: lease",
          "network: veth",
          "network: rules",
          "network: attached",
        ]
      ) {
        const killed = await c(["network", "connect", nb, `k${tag}`], { CTR_FAULT: m });
        assert.equal(killed.code, 137, `${m}: ${killed.stderr}`);
        // The record names the endpoint: leaving it removes whatever was made.
        const left = await c(["network", "disconnect", nb, `k${tag}`]);
        assert.equal(left.code, 0, `${m}: ${left.stderr}`);
        assert.ok(!links().includes(`veth${id.slice(0, 8)}-1`), `${m}: veth left`);
        assert.ok(!ruleText().includes(`ctr:${id}-1`), `${m}: rules left`);
        const inspect = await c(["network", "inspect", "-f", "{{len .Containers}}", nb]);
        assert.equal(inspect.stdout.trim(), "0", `${m}: lease left`);
      }
      // Killed half-way once more, then removed with rm -f: nothing of either network is left.
      assert.equal(
        (await c(["network", "connect", nb, `k${tag}`], { CTR_FAULT: "network: rules" })).code,
        137,
      );
    } finally {
      if (id) assert.equal((await c(["rm", "-f", id])).code, 0);
      await c(["network", "rm", na, nb]);
    }
    assert.deepEqual(links().filter((l) => l.startsWith(`veth${id.slice(0, 8)}`)), []);
    assert.ok(!ruleText().includes(`ctr:${id}`), "no rule of the container is left");
    await cleanupBridge();
  },
);
