/**
 * ctr as an OCI runtime (root): the runc command line on real bundles, each
 * state transition of the runtime spec, the pid file, the console socket,
 * hooks and their order, exec with a process.json, and no leftovers.
 */
import assert from "node:assert/strict";
import { close, readAsync } from "../../ffi/sys.ts";
import { census, rootTest, tempDir, tempStore } from "../_helpers.ts";
import { type EditableConfig, OciRuntime, until } from "../_oci.ts";

const dec = new TextDecoder();

const RT = new OciRuntime();
const BIN = RT.bin;
const ROOT = RT.root;
const oci = (args: string[], opts?: { cwd?: string; redirect?: string }) => RT.run(args, opts);
const bundle = (edit: (c: EditableConfig) => void) => RT.bundle(edit);
const state = (id: string) => RT.state(id);
const ociTest = (name: string, fn: () => Promise<void>) => RT.test(name, fn);

ociTest("oci: create waits, start runs; state follows created → running → stopped", async () => {
  const before = census(tempStore());
  const b = await bundle((c) => {
    c.process.args = [
      "sh",
      "-c",
      "echo started > /started; read x < /dev/fifo-never || sleep 1000",
    ];
    c.hostname = "ocibox";
  });
  const pidFile = `${tempDir()}/pid`;
  const create = await oci(["create", "--bundle", b, "--pid-file", pidFile, "c1"]);
  assert.equal(create.code, 0, create.stderr);
  const s1 = await state("c1");
  assert.equal(s1.ociVersion, "1.2.0");
  assert.equal(s1.id, "c1");
  assert.equal(s1.status, "created");
  assert.equal(s1.bundle, b);
  assert.ok(s1.pid > 0);
  assert.equal(Number(Deno.readTextFileSync(pidFile)), s1.pid);
  // Created, not started: the command has not run.
  assert.throws(() => Deno.statSync(`${b}/rootfs/started`));
  assert.equal((await oci(["start", "c1"])).code, 0);
  await until("the command ran", () => {
    try {
      return Deno.readTextFileSync(`${b}/rootfs/started`) === "started\n";
    } catch {
      return false;
    }
  });
  const s2 = await state("c1");
  assert.equal(s2.status, "running");
  assert.equal(s2.pid, s1.pid);
  assert.equal(
    Deno.readTextFileSync(`/proc/${s2.pid}/root/etc/hostname`).length >= 0,
    true,
  );
  // Its own namespaces: hostname from the config.
  const uts = await new Deno.Command("nsenter", {
    args: ["-t", String(s2.pid), "-u", "hostname"],
    stdout: "piped",
  }).output();
  assert.equal(dec.decode(uts.stdout).trim(), "ocibox");
  // Transitions that the spec forbids.
  const again = await oci(["start", "c1"]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /cannot start a container that is running/);
  const del = await oci(["delete", "c1"]);
  assert.equal(del.code, 1);
  assert.match(del.stderr, /not stopped: running/);
  assert.equal((await oci(["kill", "c1", "KILL"])).code, 0);
  await until("stopped", async () => (await state("c1")).status === "stopped");
  assert.equal((await state("c1")).pid, 0);
  const kill = await oci(["kill", "c1", "TERM"]);
  assert.equal(kill.code, 1);
  assert.match(kill.stderr, /container not running/);
  assert.equal((await oci(["delete", "c1"])).code, 0);
  const gone = await oci(["state", "c1"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /container does not exist: c1/);
  assert.deepEqual({ ...census(tempStore()), containers: 0 }, { ...before, containers: 0 });
});

ociTest(
  "oci: run waits and returns the exit code; list, ps, pause/resume, kill --all",
  async () => {
    const b = await bundle((c) => (c.process.args = ["sh", "-c", "exit 7"]));
    assert.equal((await oci(["run", "--bundle", b, "r1"])).code, 7);
    assert.equal((await oci(["list", "-q"])).stdout.trim(), "");

    const b2 = await bundle((c) => (c.process.args = ["sh", "-c", "sleep 1000 & sleep 1000"]));
    assert.equal((await oci(["run", "-d", "--bundle", b2, "r2"])).code, 0);
    const list = await oci(["list"]);
    assert.match(list.stdout, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/m);
    assert.match(list.stdout, /^r2\s+\d+\s+running\s+/m);
    const json = JSON.parse((await oci(["list", "--format", "json"])).stdout);
    assert.equal(json[0].id, "r2");
    await until(
      "two sleepers",
      async () => JSON.parse((await oci(["ps", "--format", "json", "r2"])).stdout).length >= 2,
    );
    assert.equal((await oci(["pause", "r2"])).code, 0);
    assert.equal((await state("r2")).status, "paused");
    assert.equal((await oci(["resume", "r2"])).code, 0);
    assert.equal((await state("r2")).status, "running");
    assert.equal((await oci(["kill", "--all", "r2", "9"])).code, 0);
    await until("stopped", async () => (await state("r2")).status === "stopped");
    assert.equal((await oci(["delete", "r2"])).code, 0);
  },
);

ociTest("oci: hooks run in order with the state on stdin; poststop at delete", async () => {
  const dir = tempDir();
  const log = `${dir}/hooks.log`;
  const hook = (name: string) => ({
    path: "/bin/sh",
    args: ["sh", "-c", `read s; echo "${name} $s" >> ${log}`],
  });
  const b = await bundle((c) => {
    c.process.args = ["sh", "-c", "[ -e /start-hook ] && echo seen > /seen; sleep 1000"];
    c.hooks = {
      prestart: [hook("prestart")],
      createRuntime: [hook("createRuntime")],
      // In the container's namespaces before pivot_root: the runtime's paths resolve.
      createContainer: [{
        path: "/bin/sh",
        args: [
          "sh",
          "-c",
          `read s; echo "createContainer $(readlink /proc/self/ns/mnt)" >> ${log}`,
        ],
      }],
      // In the container, root included: it writes into the container's own /.
      startContainer: [{
        path: "/bin/sh",
        args: ["sh", "-c", 'read s; echo "$s" > /start-hook'],
      }],
      poststart: [hook("poststart")],
      poststop: [hook("poststop")],
    };
  });
  assert.equal((await oci(["create", "--bundle", b, "h1"])).code, 0);
  assert.throws(() => Deno.statSync(`${b}/rootfs/start-hook`));
  assert.equal((await oci(["start", "h1"])).code, 0);
  const started = JSON.parse(Deno.readTextFileSync(`${b}/rootfs/start-hook`));
  assert.equal(started.id, "h1");
  await until("the command saw the startContainer hook's file", () => {
    try {
      return Deno.readTextFileSync(`${b}/rootfs/seen`) === "seen\n";
    } catch {
      return false;
    }
  });
  const pid = (await state("h1")).pid;
  assert.equal((await oci(["delete", "--force", "h1"])).code, 0);
  const lines = Deno.readTextFileSync(log).trim().split("\n");
  assert.deepEqual(lines.map((l) => l.split(" ")[0]), [
    "prestart",
    "createRuntime",
    "createContainer",
    "poststart",
    "poststop",
  ]);
  // createContainer ran in the container's mount namespace, not ours.
  const mnt = lines[2].split(" ")[1];
  assert.notEqual(mnt, Deno.readLinkSync("/proc/self/ns/mnt"));
  assert.ok(pid > 0);
  const st = JSON.parse(lines[0].slice(lines[0].indexOf(" ") + 1));
  assert.equal(st.id, "h1");
  assert.equal(st.status, "creating");
  assert.ok(st.pid > 0);
  // A failing createRuntime hook fails create and leaves nothing.
  const bad = await bundle((c) => {
    c.process.args = ["true"];
    c.hooks = { createRuntime: [{ path: "/bin/false" }] };
  });
  const r = await oci(["create", "--bundle", bad, "h2"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /createRuntime hook \/bin\/false failed/);
  assert.equal((await oci(["list", "-q"])).stdout.trim(), "");
});

ociTest(
  "oci: the console socket receives the pty master, sized by process.consoleSize",
  async () => {
    const { listenUnix, recvFd } = await import("../../ffi/unix_socket.ts");
    const dir = tempDir();
    const sock = `${dir}/console.sock`;
    const lfd = listenUnix(sock);
    const b = await bundle((c) => {
      c.process.terminal = true;
      c.process.consoleSize = { height: 33, width: 77 };
      c.process.args = ["sh", "-c", "tty; stty size; sleep 1000"];
    });
    const create = await oci(["create", "--bundle", b, "--console-socket", sock, "t1"]);
    assert.equal(create.code, 0, create.stderr);
    const got = recvFd(lfd);
    assert.ok(got.fd > 2);
    assert.equal((await oci(["start", "t1"])).code, 0);
    // Read the master itself (opening /proc/self/fd/N of it would make a new pty).
    let seen = "";
    while (!/^\d+ \d+\r?$/m.test(seen)) {
      const buf = new Uint8Array(64);
      const n = await readAsync(got.fd, buf, "pty master");
      if (n <= 0) break;
      seen += dec.decode(buf.subarray(0, n));
    }
    assert.match(seen, /\/dev\/pts\/0/);
    assert.match(seen, /^33 77\r?$/m);
    close(got.fd);
  },
);

ociTest(
  "oci: exec with a process.json joins the container; bad configs name the field",
  async () => {
    const b = await bundle((c) => {
      c.process.args = ["sleep", "1000"];
      c.hostname = "execbox";
    });
    assert.equal((await oci(["run", "-d", "--bundle", b, "e1"])).code, 0);
    const proc = `${tempDir()}/process.json`;
    Deno.writeTextFileSync(
      proc,
      JSON.stringify({
        args: ["sh", "-c", "hostname > /exec-out; ps -o pid,args >> /exec-out; exit 3"],
        cwd: "/",
        env: ["PATH=/bin:/usr/bin"],
        user: { uid: 0, gid: 0 },
      }),
    );
    const ex = await oci(["exec", "--process", proc, "e1"]);
    assert.equal(ex.code, 3, ex.stderr);
    const out = Deno.readTextFileSync(`${b}/rootfs/exec-out`);
    assert.match(out, /^execbox$/m);
    assert.match(out, /^\s*1 sleep 1000$/m);
    const cli = await oci(["exec", "e1", "sh", "-c", "exit 4"]);
    assert.equal(cli.code, 4);
    assert.equal((await oci(["delete", "--force", "e1"])).code, 0);

    const bad = await bundle((c) => {
      c.process.cwd = "relative";
      c.linux.namespaces.push({ type: "tiem" });
    });
    const r = await oci(["create", "--bundle", bad, "bad1"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /process\.cwd/);
    assert.match(r.stderr, /linux\.namespaces\[\d+\]\.type/);
    assert.equal((await oci(["list", "-q"])).stdout.trim(), "");
    const logFile = `${tempDir()}/log.json`;
    const logged = await new Deno.Command(BIN, {
      args: ["--root", ROOT, "--log", logFile, "--log-format", "json", "state", "nosuch"],
      stdout: "null",
      stderr: "null",
    }).output();
    assert.equal(logged.code, 1);
    const line = JSON.parse(Deno.readTextFileSync(logFile).trim().split("\n").at(-1)!);
    assert.equal(line.level, "error");
    assert.match(line.msg, /container does not exist: nosuch/);
  },
);

rootTest("oci: features and spec describe the runtime", async () => {
  const f = JSON.parse((await oci(["features"])).stdout);
  assert.equal(f.ociVersionMax, "1.2.0");
  assert.ok(f.linux.namespaces.includes("pid"));
  const dir = tempDir();
  assert.equal((await oci(["spec", "--bundle", dir])).code, 0);
  const again = await oci(["spec", "--bundle", dir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /exists/);
  const v = await oci(["--version"]);
  assert.match(v.stdout, /^ctr version /);
});

ociTest("oci: --preserve-fds keeps fds 3.. of the caller; the others are closed", async () => {
  const b = await bundle((c) => {
    c.process.args = [
      "sh",
      "-c",
      "cat <&3 > /got; if [ -e /proc/self/fd/4 ]; then echo open; else echo closed; fi > /fd4",
    ];
  });
  const dir = tempDir();
  Deno.writeTextFileSync(`${dir}/three`, "through fd 3\n");
  Deno.writeTextFileSync(`${dir}/four`, "not for the container\n");
  const r = await oci(["run", "--preserve-fds", "1", "--bundle", b, "p1"], {
    redirect: `3<${dir}/three 4<${dir}/four`,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(Deno.readTextFileSync(`${b}/rootfs/got`), "through fd 3\n");
  assert.equal(Deno.readTextFileSync(`${b}/rootfs/fd4`), "closed\n");
  const bad = await oci(["create", "--preserve-fds", "x", "--bundle", b, "p2"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid --preserve-fds "x"/);
});

ociTest(
  "oci: a command missing after start exits 127; bad ids never touch other paths",
  async () => {
    const b = await bundle((c) => (c.process.args = ["/no/such/command"]));
    const r = await oci(["run", "--bundle", b, "m1"]);
    assert.equal(r.code, 127, r.stderr);
    for (const id of ["..", ".", "a/b"]) {
      const d = await oci(["delete", "--force", id]);
      assert.equal(d.code, 1);
      assert.match(d.stderr, /invalid container id/);
    }
    assert.ok(Deno.statSync(ROOT).isDirectory);
    const gone = await oci(["delete", "never-made"]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /container does not exist: never-made/);
    // Forced, it is no error: runc and crun say the same, and containerd relies on it.
    assert.equal((await oci(["delete", "--force", "never-made"])).code, 0);
  },
);
