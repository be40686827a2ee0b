/**
 * `ctr run` end to end (root): every check looks from inside the container.
 */
import assert from "node:assert/strict";
import {
  census,
  ctr,
  rootTest,
  startContainer,
  tempDir,
  tempStore,
  testRootfs,
} from "../_helpers.ts";

const store = tempStore();
const run = (args: string[], opts: { stdin?: string } = {}) =>
  ctr(["--root", store, "run", "--rm", "--rootfs", testRootfs(), ...args], opts);

async function sh(script: string, args: string[] = []): Promise<string> {
  const r = await run([...args, "sh", "-c", script]);
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

rootTest("run: the hostname is set", async () => {
  assert.equal((await sh("hostname", ["--hostname", "box"])).trim(), "box");
  assert.equal((await sh("cat /proc/sys/kernel/hostname", ["--hostname", "box2"])).trim(), "box2");
});

rootTest("run: the hostname defaults to the short container id", async () => {
  assert.match((await sh("hostname")).trim(), /^[0-9a-f]{12}$/);
});

rootTest("run: the command is PID 1 and ps sees only the container's processes", async () => {
  const out = await sh("echo $$; ps -o pid,comm | tail -n +2");
  const [me, ...procs] = out.trim().split("\n");
  assert.equal(me, "1");
  const pids = procs.map((l) => Number(l.trim().split(/\s+/)[0]));
  assert.ok(pids.every((p) => p < 10), `unexpected pids: ${pids}`);
  assert.ok(pids.includes(1));
});

rootTest("run: masked and read-only paths as docker has them", async () => {
  const out = await sh(
    "wc -c < /proc/keys; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; " +
      "(echo 1 > /proc/sys/kernel/ns_last_pid) 2>&1; (echo x > /sys/kernel/uevent_helper) 2>&1; true",
  );
  const lines = out.trim().split("\n");
  assert.equal(lines[0].trim(), "0", "/proc/keys masked");
  assert.equal(lines[1].trim(), "0", "/proc/timer_list masked");
  assert.equal(lines[2].trim(), "0", "/sys/firmware masked");
  assert.match(lines[3], /Read-only file system/);
  assert.match(lines[4], /Read-only file system/);
  let hasKcore = true;
  try {
    Deno.statSync("/proc/kcore");
  } catch {
    hasKcore = false;
  }
  if (hasKcore) assert.equal((await sh("wc -c < /proc/kcore")).trim(), "0", "/proc/kcore masked");
});

rootTest("run: /dev holds the standard nodes, devpts, shm and mqueue", async () => {
  const out = await sh(
    "ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; mount",
  );
  for (const n of ["null", "zero", "full", "random", "urandom", "tty"]) {
    assert.match(out, new RegExp(`^crw-rw-rw-.* /dev/${n}$`, "m"));
  }
  assert.match(out, /devpts on \/dev\/pts type devpts .*ptmxmode=666/);
  assert.match(out, /on \/dev\/shm type tmpfs/);
  assert.match(out, /on \/dev\/mqueue type mqueue/);
  assert.match(out, /sysfs on \/sys type sysfs \(ro/);
  assert.match(out, /proc on \/proc type proc/);
});

rootTest("run: writes go to the upper layer and the source stays untouched", async () => {
  const rootfs = testRootfs();
  const before = Deno.readTextFileSync(`${rootfs}/etc/passwd`);
  const keep = tempStore();
  const states = tempDir();
  try {
    const r = await ctr([
      "--root",
      keep,
      "--state-dir",
      states,
      "run",
      "--name",
      "kept",
      "--rootfs",
      rootfs,
      "sh",
      "-c",
      "echo new > /newfile; echo evil >> /etc/passwd; rm /bin/ls",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(Deno.readTextFileSync(`${rootfs}/etc/passwd`), before);
    assert.throws(() => Deno.statSync(`${rootfs}/newfile`));
    Deno.statSync(`${rootfs}/bin/ls`);
    const [id] = [...Deno.readDirSync(`${keep}/containers`)].map((e) => e.name);
    assert.equal(Deno.readTextFileSync(`${keep}/containers/${id}/upper/newfile`), "new\n");
    assert.match(Deno.readTextFileSync(`${keep}/containers/${id}/upper/etc/passwd`), /evil/);
    // A deleted file is an overlay whiteout: a 0/0 character device.
    const wh = Deno.lstatSync(`${keep}/containers/${id}/upper/bin/ls`);
    assert.ok(wh.isCharDevice && wh.rdev === 0);
    // Kept until removed: ps -a lists it as exited, rm removes its directory and state.
    const ps = await ctr(["--state-dir", states, "ps", "-a"]);
    assert.match(ps.stdout, /Exited \(0\) .*\s+kept$/m);
    assert.equal((await ctr(["--state-dir", states, "rm", "kept"])).code, 0);
    assert.deepEqual([...Deno.readDirSync(`${keep}/containers`)], []);
    assert.equal((await ctr(["--state-dir", states, "ps", "-aq"])).stdout, "");
  } finally {
    Deno.removeSync(keep, { recursive: true });
  }
});

rootTest("run: --rm discards the upper layer", async () => {
  const r = await run(["sh", "-c", "echo x > /f"]);
  assert.equal(r.code, 0);
  assert.equal(census(store).containers, 0);
});

rootTest("run: capabilities are docker's default set; --cap-add/--cap-drop change it", async () => {
  const caps = async (args: string[]) => {
    const out = await sh("grep -E '^Cap(Eff|Bnd|Prm|Inh)' /proc/self/status", args);
    return Object.fromEntries(out.trim().split("\n").map((l) => l.split(/:\s+/)));
  };
  const d = await caps([]);
  assert.equal(d.CapEff, "00000000a80425fb");
  assert.equal(d.CapBnd, "00000000a80425fb");
  assert.equal(d.CapPrm, "00000000a80425fb");
  assert.equal(d.CapInh, "0000000000000000");
  const none = await caps(["--cap-drop", "ALL"]);
  assert.equal(none.CapEff, "0000000000000000");
  assert.equal(none.CapBnd, "0000000000000000");
  const plus = await caps(["--cap-add", "NET_ADMIN", "--cap-drop", "chown"]);
  assert.equal(plus.CapEff, ((0xa80425fbn | (1n << 12n)) & ~1n).toString(16).padStart(16, "0"));
});

rootTest("run: -u runs as that user, names come from the rootfs' passwd and group", async () => {
  assert.equal((await sh("id -u; id -g", ["-u", "1000"])).trim(), "1000\n1000");
  const app = await sh("id", ["-u", "app"]);
  assert.match(app, /uid=1000\(app\) gid=1000\(app\) groups=.*50\(staff\)/);
  assert.match(await sh("id", ["-u", "app:staff"]), /uid=1000\(app\) gid=50\(staff\)/);
  assert.match(await sh("grep CapEff /proc/self/status", ["-u", "1000"]), /0000000000000000/);
  assert.match(await sh("id", ["-u", "1234:4321"]), /uid=1234 gid=4321/);
  const bad = await run(["-u", "nosuchuser", "id"]);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /Unable to find user nosuchuser/);
});

rootTest("run: exit codes 0, 3, 126, 127 and 137", async () => {
  assert.equal((await run(["true"])).code, 0);
  assert.equal((await run(["sh", "-c", "exit 3"])).code, 3);
  const noexec = await run(["/etc/passwd"]);
  assert.equal(noexec.code, 126);
  assert.match(noexec.stderr, /EACCES/);
  const missing = await run(["nosuchcommand"]);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /executable file not found in \$PATH/);
  assert.equal((await run(["/no/such/path"])).code, 127);
  const c = await startContainer(store, ["sleep", "60"]);
  assert.equal(await c.stop(), 137);
});

rootTest("run: signals to ctr reach the container", async () => {
  const c = await startContainer(store, [
    "sh",
    "-c",
    "trap 'exit 42' TERM; while :; do sleep 0.05; done",
  ]);
  await new Promise((r) => setTimeout(r, 200));
  c.proc.kill("SIGTERM");
  assert.equal((await c.proc.output()).code, 42);
});

/** Runs ctr under `script`, so that its stdin is a terminal; undefined when `script` is missing. */
async function underTerminal(args: string[]): Promise<{ code: number; text: string } | undefined> {
  const [cmd, ...pre] = (await import("../_helpers.ts")).ctrCommand();
  const line = [
    cmd,
    ...pre,
    "--root",
    store,
    "run",
    "--rm",
    "-t",
    "--rootfs",
    testRootfs(),
    ...args,
  ]
    .map((a) => `'${a}'`).join(" ");
  try {
    const out = await new Deno.Command("script", {
      args: ["-qec", line, "/dev/null"],
      stdin: "null",
      stdout: "piped",
    }).output();
    return { code: out.code, text: new TextDecoder().decode(out.stdout) };
  } catch {
    console.log("skipped: util-linux `script` is not installed");
    return undefined;
  }
}

rootTest("run: -t gives the container a pty of its own (/dev/pts/0)", async () => {
  const r = await underTerminal(["sh", "-c", "tty; exit 5"]);
  if (!r) return;
  assert.match(r.text, /\/dev\/pts\/0/);
  assert.equal(r.code, 5);
});

rootTest("run: -t belongs to the container's user, with --userns too", async () => {
  const app = await underTerminal(["-u", "app", "sh", "-c", "tty; ls -l /dev/pts/0"]);
  if (!app) return;
  assert.match(app.text, /\/dev\/pts\/0/);
  assert.match(app.text, /crw--w---- +1 app +tty/);
  const remapped = await underTerminal(["--userns", "sh", "-c", "tty; id -u"]);
  assert.match(remapped!.text, /\/dev\/pts\/0\s+0/);
});

rootTest("run: --privileged gives every capability ctr holds and unmasks paths", async () => {
  const own = Deno.readTextFileSync("/proc/self/status").match(/^CapPrm:\s*(\w+)/m)![1];
  const out = await sh("grep CapEff /proc/self/status; wc -c < /proc/keys", ["--privileged"]);
  assert.match(out, new RegExp(`CapEff:\\s+${own}`));
  if ((BigInt("0x" + own) & (1n << 24n)) === 0n) {
    const r = await run(["--cap-add", "SYS_RESOURCE", "true"]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /CAP_SYS_RESOURCE: ctr itself does not hold it/);
  }
});

rootTest("run: -i keeps stdin; without it stdin is /dev/null", async () => {
  assert.equal((await run(["-i", "cat"], { stdin: "hello\n" })).stdout, "hello\n");
  assert.equal((await run(["cat"], { stdin: "hello\n" })).stdout, "");
  assert.equal((await run(["readlink", "/proc/self/fd/0"])).stdout.trim(), "/dev/null");
});

rootTest("run: env, workdir and HOME", async () => {
  const out = await sh("echo $FOO; pwd; echo $HOME; echo $PATH", [
    "-e",
    "FOO=bar",
    "-w",
    "/work/dir",
  ]);
  assert.deepEqual(out.trim().split("\n"), [
    "bar",
    "/work/dir",
    "/root",
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  ]);
});

rootTest("run: only fds 0-2 reach the command; SIGPIPE is default; nofile is set", async () => {
  // ls runs first, outside any pipeline: while the shell sets up a pipeline it
  // holds the pipe's ends itself, and ls would see them.
  const out = await sh("ls /proc/$$/fd; echo --; yes | head -1; ulimit -n");
  const [fdLines, rest] = out.split("--\n");
  const [y, nofile] = rest.trim().split("\n");
  assert.equal(fdLines.trim().split("\n").join(" "), "0 1 2");
  assert.equal(y, "y");
  assert.ok(Number(nofile) > 0);
  // The command itself (not a shell, which sets its own) starts with no signal blocked or ignored.
  const st = await run(["grep", "-E", "SigIgn|SigBlk", "/proc/self/status"]);
  assert.match(st.stdout, /SigBlk:\s+0000000000000000/);
  assert.match(st.stdout, /SigIgn:\s+0000000000000000/);
});

rootTest("run: --security-opt no-new-privileges", async () => {
  assert.match(await sh("grep NoNewPrivs /proc/self/status"), /NoNewPrivs:\s+0/);
  assert.match(
    await sh("grep NoNewPrivs /proc/self/status", ["--security-opt", "no-new-privileges"]),
    /NoNewPrivs:\s+1/,
  );
});

rootTest("run: -v binds host paths (ro too), --tmpfs, --read-only", async () => {
  const host = tempDir();
  Deno.writeTextFileSync(`${host}/f`, "data\n");
  try {
    const out = await sh(
      "cat /rw/f /ro/f; echo w > /rw/new; (echo w > /ro/new) 2>&1; echo t > /scratch/t && cat /scratch/t; (touch /x) 2>&1; true",
      ["-v", `${host}:/rw`, "-v", `${host}:/ro:ro`, "--tmpfs", "/scratch", "--read-only"],
    );
    const lines = out.trim().split("\n");
    assert.deepEqual(lines.slice(0, 2), ["data", "data"]);
    assert.match(lines[2], /Read-only file system/);
    assert.equal(lines[3], "t");
    assert.match(lines[4], /Read-only file system/);
    assert.equal(Deno.readTextFileSync(`${host}/new`), "w\n");
  } finally {
    Deno.removeSync(host, { recursive: true });
  }
});

rootTest("run: --userns maps root to an unprivileged range", async () => {
  const out = await sh("id -u; cat /proc/self/uid_map; echo x > /f && cat /f; hostname", [
    "--userns",
    "--hostname",
    "u",
  ]);
  const lines = out.trim().split("\n");
  assert.equal(lines[0], "0");
  assert.deepEqual(lines[1].trim().split(/\s+/), ["0", "100000", "65536"]);
  assert.equal(lines[2], "x");
  assert.equal(lines[3], "u");
  const mapped = await sh("cat /proc/self/uid_map", ["--uidmap", "0:200000:1000"]);
  assert.deepEqual(mapped.trim().split(/\s+/), ["0", "200000", "1000"]);
});

rootTest(
  "run: own network namespace with lo up by default; --net=host shares the host's",
  async () => {
    const own = await sh("ls /sys/class/net");
    assert.equal(own.trim(), "lo");
    assert.match(
      await sh("cat /sys/class/net/lo/operstate; ping -c1 -W1 127.0.0.1 >/dev/null && echo pong"),
      /pong/,
    );
    const hostLinks = [...Deno.readDirSync("/sys/class/net")].map((e) => e.name).sort();
    const seen = (await sh("ls /sys/class/net", ["--net=host"])).trim().split(/\s+/).sort();
    assert.deepEqual(seen, hostLinks);
  },
);

rootTest("run: --dry-run prints the plan and runs nothing", async () => {
  const r = await run(["--dry-run", "--hostname", "dry", "true"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^clone\(.*CLONE_NEWPID.*\)$/m);
  assert.match(r.stdout, /sethostname\("dry", 3\)/);
  assert.match(r.stdout, /pivot_root\("\.", "\."\)/);
  assert.match(r.stdout, /execve\("\/bin\/true"/);
  assert.equal(census(store).containers, 0);
});

rootTest("run: 50 runs leave no mount, cgroup, link or directory behind", async () => {
  const before = census(store);
  for (let i = 0; i < 50; i++) {
    const r = await run(["true"]);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.deepEqual(census(store), before);
});
