/**
 * Detached containers and their lifecycle, through the command line (root):
 * run -d and its watcher, ps, inspect, logs, exec, top, stop, kill, wait,
 * start, restart policies, rm -f after a crash, named volumes. Each test
 * counts mounts, cgroups, links, containers and state files before and after.
 */
import assert from "node:assert/strict";
import { census, ctr, rootTest, tempDir, tempStore, testRootfs } from "../_helpers.ts";

const repo = new URL("../..", import.meta.url).pathname;
const store = tempStore();
const state = tempDir();
const c = (args: string[], opts: { stdin?: string } = {}) =>
  ctr(["--root", store, "--state-dir", state, ...args], opts);

/** `ctr run -d` on the test rootfs; returns the id. */
async function runD(args: string[]): Promise<string> {
  const r = await c(["run", "-d", ...args]);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  return id;
}

function stateFiles(): string[] {
  return [...Deno.readDirSync(state)].filter((e) => e.isFile && /\.(json|exit)$/.test(e.name))
    .map((e) => e.name);
}

async function inspect(ref: string): Promise<Record<string, any>> {
  const r = await c(["inspect", ref]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout)[0];
}

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 15000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hadBridge = (() => {
  try {
    Deno.statSync("/sys/class/net/ctr0");
    return true;
  } catch {
    return false;
  }
})();
// The bridge these tests made goes with them (the network tests do the same).
globalThis.addEventListener("unload", () => {
  if (!hadBridge) {
    new Deno.Command("ip", { args: ["link", "del", "ctr0"], stderr: "null" }).outputSync();
  }
});

/**
 * Kernel objects and files that containers could leave. The default bridge
 * ctr0 is not counted: the first `--net` makes it and it stays, as docker0
 * does (network tests check it apart).
 */
function objects() {
  const c = census(store);
  let bridge = 0;
  try {
    Deno.statSync("/sys/class/net/ctr0");
    bridge = 1;
  } catch { /* not made yet */ }
  return { ...c, links: c.links - bridge };
}

/** A root test that removes whatever containers it left, even when it fails. */
function lcTest(name: string, fn: () => Promise<void>) {
  rootTest(name, async () => {
    try {
      await fn();
    } finally {
      const left = stateFiles().filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5));
      if (left.length) await c(["rm", "-f", ...left]);
    }
  });
}

function pss(pid: number): number {
  const t = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
  return Number(t.match(/^Pss:\s+(\d+) kB/m)![1]);
}

rootTest(
  "lifecycle: the seed workflow: run -d httpd, ps, inspect Pid, enter its netns, fetch the page",
  async () => {
    const before = objects();
    const tar = `${tempDir()}/bb.tar`;
    const img = await new Deno.Command("bash", {
      args: [`${repo}scripts/busybox_image.sh`, tar],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(img.success, new TextDecoder().decode(img.stderr));
    assert.equal((await c(["load", "-i", tar])).code, 0);
    const www = tempDir();
    Deno.writeTextFileSync(`${www}/index.html`, "hello from ctr\n");
    const id = await runD([
      "--name",
      "web",
      "--net",
      "--pull",
      "never",
      "-v",
      `${www}:/www:ro`,
      "busybox",
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/www",
    ]);
    const ps = await c(["ps"]);
    assert.match(
      ps.stdout,
      new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+"httpd -f -p 80 -h /…".*Up .*web$`, "m"),
    );
    const info = await inspect("web");
    assert.equal(info.State.Running, true);
    const pid = info.State.Pid as number;
    assert.ok(pid > 0);
    const ip = info.NetworkSettings.IPAddress as string;
    assert.match(ip, /^10\.123\.\d+\.\d+$/);
    // The process that inspect names is the container's: its netns has eth0 with that address.
    const enter = await ctr([
      "enter",
      String(pid),
      "--ns",
      "net",
      "ip",
      "-4",
      "-o",
      "addr",
      "show",
      "eth0",
    ]);
    assert.equal(enter.code, 0, enter.stderr);
    assert.match(enter.stdout, new RegExp(`inet ${ip.replaceAll(".", "\\.")}/16`));
    let page = "";
    await until("httpd answers", async () => {
      try {
        page = await (await fetch(`http://${ip}/index.html`)).text();
        return true;
      } catch {
        return false;
      }
    });
    assert.equal(page, "hello from ctr\n");
    assert.equal((await c(["rm", "-f", "web"])).code, 0);
    assert.deepEqual(objects(), before);
    assert.deepEqual(stateFiles(), []);
  },
);

rootTest(
  "lifecycle: logs of 10,000 lines: --tail 5 and -f are exact; stdout and stderr apart",
  async () => {
    const id = await runD([
      "--name",
      "chatty",
      "--rootfs",
      testRootfs(),
      "sh",
      "-c",
      "i=1; while [ $i -le 10000 ]; do echo line $i; i=$((i+1)); done; echo oops >&2; sleep 1; echo last",
    ]);
    // -f from the start, while it runs: every line once, in order, until it ends.
    const follow = await c(["logs", "-f", "chatty"]);
    assert.equal(follow.code, 0, follow.stderr);
    const lines = follow.stdout.split("\n").filter(Boolean);
    assert.equal(lines.length, 10001);
    assert.equal(lines[0], "line 1");
    assert.equal(lines[9999], "line 10000");
    assert.equal(lines[10000], "last");
    assert.equal(follow.stderr, "oops\n");
    const tail = await c(["logs", "--tail", "5", id.slice(0, 12)]);
    assert.deepEqual(tail.stdout.split("\n").filter(Boolean), [
      "line 9998",
      "line 9999",
      "line 10000",
      "last",
    ]);
    assert.equal(tail.stderr, "oops\n");
    const ts = await c(["logs", "-t", "--tail", "1", "chatty"]);
    const [time, text] = ts.stdout.trim().split(" ");
    assert.equal(text, "last");
    assert.ok(Math.abs(Date.parse(time) - Date.now()) < 60_000, time);
    assert.equal((await c(["wait", "chatty"])).stdout.trim(), "0");
    assert.equal((await c(["rm", "chatty"])).code, 0);
  },
);

rootTest(
  "lifecycle: a watcher killed with SIGKILL: ps tells the truth, rm -f leaves nothing",
  async () => {
    const before = objects();
    const leases = () => {
      try {
        return JSON.parse(Deno.readTextFileSync(`${state}/networks/bridge.json`)).leases.length;
      } catch {
        return 0;
      }
    };
    const id = await runD(["--name", "orphan", "--net", "--rootfs", testRootfs(), "sleep", "1000"]);
    const rec = JSON.parse(Deno.readTextFileSync(`${state}/${id}.json`));
    const watcher = rec.watcher.pid as number;
    assert.match(Deno.readTextFileSync(`/proc/${watcher}/comm`), /ctr-watch/);
    // The watcher is the container's parent, and small.
    const ppid = Number(
      Deno.readTextFileSync(`/proc/${rec.pid}/stat`).split(") ")[1].split(" ")[1],
    );
    assert.equal(ppid, watcher);
    assert.ok(pss(watcher) < 1024, `watcher PSS ${pss(watcher)} kB`);
    assert.equal(leases(), 1);
    Deno.kill(watcher, "SIGKILL");
    await until("watcher gone", () => {
      try {
        return Deno.readTextFileSync(`/proc/${watcher}/stat`).includes(") Z") ||
          !Deno.readTextFileSync(`/proc/${watcher}/comm`);
      } catch {
        return true;
      }
    });
    // The container itself runs on: ps says so.
    assert.match((await c(["ps"])).stdout, /Up .*orphan$/m);
    const rm = await c(["rm", "orphan"]);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /cannot remove a running container/);
    assert.equal((await c(["rm", "-f", "orphan"])).code, 0);
    assert.equal(leases(), 0);
    assert.deepEqual(objects(), before);
    assert.deepEqual(stateFiles(), []);
    // A container that ended while nobody watched is reported exited (255: status unknown).
    const id2 = await runD(["--name", "orphan2", "--rootfs", testRootfs(), "sleep", "0.5"]);
    const w2 = JSON.parse(Deno.readTextFileSync(`${state}/${id2}.json`)).watcher.pid;
    Deno.kill(w2, "SIGKILL");
    await new Promise((r) => setTimeout(r, 800));
    assert.match((await c(["ps", "-a"])).stdout, /Exited \(255\).*orphan2$/m);
    assert.equal((await c(["rm", "orphan2"])).code, 0);
    assert.deepEqual(objects(), before);
  },
);

rootTest(
  "lifecycle: 30 detached containers started in parallel: listed, stopped, removed",
  async () => {
    const before = objects();
    const names = Array.from({ length: 30 }, (_, i) => `par${i}`);
    try {
      const ids = await Promise.all(
        names.map((n) => runD(["--name", n, "--rootfs", testRootfs(), "sleep", "1000"])),
      );
      assert.equal(new Set(ids).size, 30);
      const listed = (await c(["ps", "-q", "--no-trunc"])).stdout.trim().split("\n");
      assert.deepEqual([...listed].sort(), [...ids].sort());
      const stop = await c(["stop", "-t", "1", ...names]);
      assert.equal(stop.code, 0, stop.stderr);
      // docker's --format json: one object per line.
      const all = (await c(["ps", "-a", "--format", "json"])).stdout.trim().split("\n")
        .map((l) => JSON.parse(l));
      assert.equal(all.length, 30);
      // sleep as PID 1 ignores SIGTERM (no handler): SIGKILL after 1 s, as docker.
      for (const s of all) assert.match(s.Status, /^Exited \(137\) /);
      assert.equal((await c(["rm", ...names])).code, 0);
    } finally {
      // A failure above must not leave 30 containers to the tests that follow.
      if (stateFiles().length > 0) await c(["rm", "-f", ...names]);
    }
    assert.deepEqual(objects(), before);
    assert.deepEqual(stateFiles(), []);
  },
);

rootTest(
  "lifecycle: exec joins the container's pid namespace, hostname, mounts and cgroup",
  async () => {
    await runD([
      "--name",
      "target",
      "--hostname",
      "box",
      "--tmpfs",
      "/scratch",
      "-e",
      "FROM_RUN=1",
      "--rootfs",
      testRootfs(),
      "sleep",
      "1000",
    ]);
    const ps = await c(["exec", "target", "ps", "-o", "pid,args"]);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /^\s*1 sleep 1000$/m);
    const sh = await c([
      "exec",
      "-e",
      "EXTRA=2",
      "target",
      "sh",
      "-c",
      "hostname; grep -c ' /scratch ' /proc/self/mountinfo; echo $FROM_RUN$EXTRA; cat /proc/self/cgroup | grep -c ':/$'; ls /sys/fs/cgroup >/dev/null && echo ok",
    ]);
    assert.equal(sh.code, 0, sh.stderr);
    const [host, scratch, env, rootCg] = sh.stdout.trim().split("\n");
    assert.equal(host, "box");
    assert.equal(scratch, "1");
    assert.equal(env, "12");
    assert.ok(Number(rootCg) >= 1);
    // The exec'd process is in the container's cgroup on the host.
    const info = await inspect("target");
    const hostCg = Deno.readTextFileSync(`/proc/${info.State.Pid}/cgroup`);
    const bg = await c(["exec", "-d", "target", "sleep", "999"]);
    assert.equal(bg.code, 0);
    const top = await c(["top", "target"]);
    assert.match(top.stdout, /^UID\s+PID\s+PPID/);
    const sleeper = top.stdout.split("\n").find((l) => l.endsWith("sleep 999"));
    assert.ok(sleeper, top.stdout);
    const spid = Number(sleeper!.trim().split(/\s+/)[1]);
    assert.equal(Deno.readTextFileSync(`/proc/${spid}/cgroup`), hostCg);
    assert.equal((await c(["exec", "target", "sh", "-c", "exit 7"])).code, 7);
    const missing = await c(["exec", "target", "nonesuch"]);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /executable file not found/);
    assert.equal((await c(["exec", "-u", "nobody", "target", "id", "-u"])).stdout.trim(), "65534");
    assert.equal((await c(["rm", "-f", "target"])).code, 0);
    const gone = await c(["exec", "target", "true"]);
    assert.equal(gone.code, 125);
    assert.match(gone.stderr, /No such container: target/);
  },
);

rootTest(
  "lifecycle: stop sends SIGTERM first; kill, wait, start on the kept upper layer",
  async () => {
    await runD([
      "--name",
      "polite",
      "--rootfs",
      testRootfs(),
      "sh",
      "-c",
      "trap 'echo bye; exit 3' TERM; echo $((1 + $(cat /count 2>/dev/null || echo 0))) > /count; cat /count; while true; do sleep 0.1; done",
    ]);
    await until("started", async () => (await c(["logs", "polite"])).stdout.includes("1"));
    const t0 = Date.now();
    const stop = await c(["stop", "-t", "20", "polite"]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.ok(Date.now() - t0 < 10_000, "stop waited for the timeout although the trap ran");
    let info = await inspect("polite");
    assert.equal(info.State.Status, "exited");
    assert.equal(info.State.ExitCode, 3);
    assert.equal((await c(["wait", "polite"])).stdout.trim(), "3");
    // start: the same container, its upper layer kept (the counter goes on).
    assert.equal((await c(["start", "polite"])).code, 0);
    await until("restarted", async () => (await c(["logs", "polite"])).stdout.includes("2\n"));
    assert.equal((await c(["logs", "polite"])).stdout, "1\nbye\n2\n");
    info = await inspect("polite");
    assert.equal(info.State.Running, true);
    assert.equal((await c(["kill", "-s", "TERM", "polite"])).code, 0);
    assert.equal((await c(["wait", "polite"])).stdout.trim(), "3");
    const again = await c(["kill", "polite"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is not running/);
    assert.equal((await c(["rm", "polite"])).code, 0);
  },
);

rootTest(
  "lifecycle: --restart on-failure:2 restarts twice; always stops for stop; --rm removes",
  async () => {
    const before = objects();
    await runD([
      "--name",
      "flaky",
      "--restart",
      "on-failure:2",
      "--rootfs",
      testRootfs(),
      "sh",
      "-c",
      "echo run; exit 4",
    ]);
    await until("two restarts", async () => {
      const i = await inspect("flaky");
      return i.State.Status === "exited" && i.RestartCount === 2;
    });
    assert.equal((await c(["logs", "flaky"])).stdout, "run\nrun\nrun\n");
    assert.equal((await inspect("flaky")).State.ExitCode, 4);
    await runD([
      "--name",
      "forever",
      "--restart",
      "always",
      "--rootfs",
      testRootfs(),
      "sh",
      "-c",
      "sleep 0.2",
    ]);
    await until("restarted once", async () => (await inspect("forever")).RestartCount >= 1);
    assert.equal((await c(["stop", "-t", "1", "forever"])).code, 0);
    const n = (await inspect("forever")).RestartCount;
    await new Promise((r) => setTimeout(r, 700));
    const f = await inspect("forever");
    assert.equal(f.State.Status, "exited");
    assert.equal(f.RestartCount, n);
    const rmId = await runD(["--rm", "--rootfs", testRootfs(), "true"]);
    await until("removed", () => !stateFiles().some((x) => x.startsWith(rmId)));
    assert.equal((await c(["rm", "flaky", "forever"])).code, 0);
    const bad = await c(["run", "-d", "--restart", "sometimes", "--rootfs", testRootfs(), "true"]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid restart policy "sometimes"/);
    assert.deepEqual(objects(), before);
    assert.deepEqual(stateFiles(), []);
  },
);

lcTest("lifecycle: logs rotate at max-size, keeping max-file files", async () => {
  await runD([
    "--name",
    "rotor",
    "--log-opt",
    "max-size=20k",
    "--log-opt",
    "max-file=2",
    "--rootfs",
    testRootfs(),
    "sh",
    "-c",
    "i=1; while [ $i -le 3000 ]; do echo line $i; i=$((i+1)); done",
  ]);
  assert.equal((await c(["wait", "rotor"])).stdout.trim(), "0");
  const info = await inspect("rotor");
  const log = info.LogPath as string;
  const sizes = [log, `${log}.1`].map((f) => Deno.statSync(f).size);
  for (const s of sizes) assert.ok(s <= 20 * 1024 + 200, `${s}`);
  assert.throws(() => Deno.statSync(`${log}.2`));
  const lines = (await c(["logs", "rotor"])).stdout.trim().split("\n");
  // The newest lines are all there, in order, ending with the last.
  assert.equal(lines.at(-1), "line 3000");
  const first = Number(lines[0].split(" ")[1]);
  assert.deepEqual(lines, Array.from({ length: 3000 - first + 1 }, (_, i) => `line ${first + i}`));
  assert.equal((await c(["rm", "rotor"])).code, 0);
});

lcTest("lifecycle: a named volume keeps its data across containers", async () => {
  const w = await c([
    "run",
    "--rm",
    "-v",
    "keep:/data",
    "--rootfs",
    testRootfs(),
    "sh",
    "-c",
    "echo 42 > /data/v",
  ]);
  assert.equal(w.code, 0, w.stderr);
  const r = await c([
    "run",
    "--rm",
    "-v",
    "keep:/data:ro",
    "--rootfs",
    testRootfs(),
    "cat",
    "/data/v",
  ]);
  assert.equal(r.stdout, "42\n");
  await runD(["--name", "user", "-v", "keep:/data", "--rootfs", testRootfs(), "sleep", "1000"]);
  const busy = await c(["volume", "rm", "keep"]);
  assert.notEqual(busy.code, 0);
  assert.match(busy.stderr, /in use/);
  assert.equal((await c(["rm", "-f", "user"])).code, 0);
  assert.equal((await c(["volume", "rm", "keep"])).code, 0);
  assert.equal((await c(["volume", "ls", "-q"])).stdout.trim(), "");
});

rootTest(
  "lifecycle: clear errors: name conflict, logs of a foreground run, unknown container",
  async () => {
    await runD(["--name", "dup", "--rootfs", testRootfs(), "sleep", "1000"]);
    const again = await c(["run", "-d", "--name", "dup", "--rootfs", testRootfs(), "true"]);
    assert.equal(again.code, 125);
    assert.match(again.stderr, /name "dup" is already in use/);
    assert.equal((await c(["rm", "-f", "dup"])).code, 0);
    const missing = await c(["run", "-d", "--rootfs", testRootfs(), "/no/such/cmd"]);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /no such file or directory/);
    const fg = await c(["run", "--name", "fg", "--rootfs", testRootfs(), "true"]);
    assert.equal(fg.code, 0);
    const logs = await c(["logs", "fg"]);
    assert.equal(logs.code, 125);
    assert.match(logs.stderr, /only detached containers/);
    assert.equal((await c(["rm", "fg"])).code, 0);
    for (const cmd of ["stop", "start", "logs", "inspect", "wait", "kill", "top"]) {
      const r = await c([cmd, "nosuch"]);
      assert.notEqual(r.code, 0, cmd);
      // inspect looks for images, networks and volumes too, and says so as docker does.
      const want = cmd === "inspect" ? /No such object: nosuch/ : /No such container: nosuch/;
      assert.match(r.stderr, want, cmd);
    }
    assert.deepEqual(stateFiles(), []);
  },
);

lcTest("lifecycle: image prune keeps the layers of detached and stopped containers", async () => {
  const tar = `${tempDir()}/bb.tar`;
  const img = await new Deno.Command("bash", {
    args: [`${repo}scripts/busybox_image.sh`, tar],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(img.success);
  assert.equal((await c(["load", "-i", tar])).code, 0);
  await runD(["--name", "holder", "--pull", "never", "busybox", "sleep", "1000"]);
  const layers = () => [...Deno.readDirSync(`${store}/layers/sha256`)].length;
  const n = layers();
  assert.ok(n > 0);
  assert.equal((await c(["rmi", "busybox"])).code, 0);
  assert.equal((await c(["image", "prune", "-a"])).code, 0);
  assert.equal(layers(), n, "prune removed a running container's layers");
  assert.equal((await c(["exec", "holder", "ls", "/bin/busybox"])).code, 0);
  assert.equal((await c(["stop", "-t", "0", "holder"])).code, 0);
  assert.equal((await c(["image", "prune", "-a"])).code, 0);
  assert.equal(layers(), n, "prune removed a stopped container's layers");
  assert.equal((await c(["start", "holder"])).code, 0);
  assert.equal((await c(["exec", "holder", "true"])).code, 0);
  assert.equal((await c(["rm", "-f", "holder"])).code, 0);
  assert.equal((await c(["image", "prune", "-a"])).code, 0);
  assert.equal(layers(), 0);
});

lcTest(
  "lifecycle: exec -t opens a new pty of the container; -i passes stdin; -dt logs a tty",
  async () => {
    await runD(["--name", "ttyhost", "--rootfs", testRootfs(), "sleep", "1000"]);
    const [cmd, ...pre] = (await import("../_helpers.ts")).ctrCommand();
    const line = [...[cmd, ...pre], "--root", store, "--state-dir", state, "exec", "-t", "ttyhost"]
      .concat(["sh", "-c", "tty; exit 6"]).map((a) => `'${a}'`).join(" ");
    let out: Deno.CommandOutput | undefined;
    try {
      out = await new Deno.Command("script", {
        args: ["-qec", line, "/dev/null"],
        stdin: "null",
        stdout: "piped",
      }).output();
    } catch {
      console.log("skipped the pty part: util-linux `script` is not installed");
    }
    if (out) {
      assert.match(new TextDecoder().decode(out.stdout), /\/dev\/pts\/\d+/);
      assert.equal(out.code, 6);
    }
    const cat = await c(["exec", "-i", "ttyhost", "cat"], { stdin: "through stdin\n" });
    assert.equal(cat.stdout, "through stdin\n");
    // A detached container with -t: its pty's output goes to the log.
    await runD(["--name", "ttylog", "-t", "--rootfs", testRootfs(), "sh", "-c", "tty; echo done"]);
    assert.equal((await c(["wait", "ttylog"])).stdout.trim(), "0");
    assert.equal((await c(["logs", "ttylog"])).stdout, "/dev/pts/0\r\ndone\r\n");
    // restart: a new PID 1, the same container.
    const pid1 = (await inspect("ttyhost")).State.Pid;
    assert.equal((await c(["restart", "-t", "0", "ttyhost"])).code, 0);
    const after = await inspect("ttyhost");
    assert.equal(after.State.Running, true);
    assert.notEqual(after.State.Pid, pid1);
  },
);

lcTest(
  "lifecycle: run -d -p: 127.0.0.1 reaches the port through rules; rm takes them away",
  async () => {
    const www = tempDir();
    Deno.writeTextFileSync(`${www}/index.html`, "published\n");
    const nftRules = () => {
      try {
        return new TextDecoder().decode(
          new Deno.Command("nft", { args: ["list", "ruleset"], stdout: "piped" }).outputSync()
            .stdout,
        );
      } catch {
        return "";
      }
    };
    await runD([
      "--name",
      "pub",
      "-p",
      "127.0.0.1:18091:80",
      "-p",
      "18092:80",
      "-v",
      `${www}:/www:ro`,
      "--rootfs",
      testRootfs(),
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/www",
    ]);
    const port = await c(["port", "pub"]);
    assert.match(port.stdout, /^80\/tcp -> 127\.0\.0\.1:18091$/m);
    assert.match(port.stdout, /^80\/tcp -> 0\.0\.0\.0:18092$/m);
    for (const p of [18091, 18092]) {
      let page = "";
      await until(`127.0.0.1:${p} answers`, async () => {
        try {
          page = await (await fetch(`http://127.0.0.1:${p}/index.html`)).text();
          return true;
        } catch {
          return false;
        }
      });
      assert.equal(page, "published\n");
    }
    const id = (await inspect("pub")).Id as string;
    assert.match(nftRules(), new RegExp(`ctr:${id}`));
    assert.equal((await c(["rm", "-f", "pub"])).code, 0);
    assert.doesNotMatch(nftRules(), new RegExp(`ctr:${id}`));
  },
);

lcTest(
  "lifecycle: kill then start at once: the old run's release never touches the new run",
  async () => {
    await runD(["--name", "quick", "--net", "--rootfs", testRootfs(), "sleep", "1000"]);
    assert.equal((await c(["kill", "quick"])).code, 0);
    const st = await c(["start", "quick"]);
    assert.equal(st.code, 0, st.stderr);
    const first = await inspect("quick");
    assert.equal(first.State.Running, true);
    // Long enough for a late release of the first run to have struck.
    await new Promise((r) => setTimeout(r, 1500));
    const later = await inspect("quick");
    assert.equal(later.State.Running, true);
    assert.equal(later.State.Pid, first.State.Pid);
    assert.match(later.NetworkSettings.IPAddress, /^10\.123\./);
    const ex = await c(["exec", "quick", "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.match(ex.stdout, new RegExp(later.NetworkSettings.IPAddress.replaceAll(".", "\\.")));
  },
);
