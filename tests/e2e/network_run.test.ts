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
