/**
 * A real client drives ctr as its OCI runtime (root): Debian's podman with
 * `runtime = "ctr"` (a `ctr-oci` symlink to the single file) runs `run --rm`,
 * exit codes, `run -d` + `ps` + `exec` + `pause`/`unpause` + `stop` + `rm`,
 * and `run -it` under a terminal; nothing is left behind.
 *
 * podman's storage lives in a temporary directory and its default rlimits
 * are lowered (root here lacks CAP_SYS_RESOURCE); its default seccomp
 * profile applies, in the container and in what exec starts there.
 */
import assert from "node:assert/strict";
import { census, ociBinary, rootTest, tempDir, tempStore, testRootfs } from "../_helpers.ts";

const dec = new TextDecoder();

function hasPodman(): boolean {
  try {
    return new Deno.Command("podman", { args: ["--version"], stdout: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

const PODMAN = hasPodman();

function podmanTest(name: string, fn: (p: Podman) => Promise<void>) {
  if (!PODMAN) {
    Deno.test({ name: `${name} [skipped: podman is not installed]`, ignore: true, fn() {} });
    return;
  }
  rootTest(name, async () => {
    const p = await Podman.setUp();
    try {
      await fn(p);
    } finally {
      await p.tearDown();
    }
  });
}

/** podman with its own storage and ctr as its runtime. */
class Podman {
  private constructor(readonly dir: string, readonly made: string[]) {}

  static async setUp(): Promise<Podman> {
    const dir = tempDir();
    const made = ["/var/lib/containers", "/run/containers"].filter((d) => {
      try {
        Deno.statSync(d);
        return false;
      } catch {
        return true;
      }
    });
    Deno.writeTextFileSync(
      `${dir}/containers.conf`,
      `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "ctr"
runtime_supports_json = ["ctr", "crun", "runc"]
[engine.runtimes]
ctr = ["${ociBinary()}"]
`,
    );
    const p = new Podman(dir, made);
    const tar = `${dir}/rootfs.tar`;
    const t = await new Deno.Command("tar", { args: ["-C", testRootfs(), "-cf", tar, "."] })
      .output();
    assert.ok(t.success);
    const imp = await p.run(["import", tar, "localhost/ctr-test-bb:latest"]);
    assert.equal(imp.code, 0, imp.stderr);
    return p;
  }

  args(): string[] {
    return [
      "--root",
      `${this.dir}/root`,
      "--runroot",
      `${this.dir}/runroot`,
      "--tmpdir",
      `${this.dir}/tmp`,
      "--events-backend",
      "file",
      "--cgroup-manager",
      "cgroupfs",
    ];
  }

  async run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const out = await new Deno.Command("podman", {
      args: [...this.args(), ...args],
      env: { CONTAINERS_CONF: `${this.dir}/containers.conf` },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  async tearDown(): Promise<void> {
    await this.run(["rm", "-af", "-t", "0"]);
    await this.run(["rmi", "-af"]);
    // containers/storage leaves a private bind mount of its overlay directory.
    const overlay = `${this.dir}/root/overlay`;
    if (Deno.readTextFileSync("/proc/self/mountinfo").includes(` ${overlay} `)) {
      await new Deno.Command("umount", { args: [overlay] }).output();
    }
    for (const d of this.made) {
      try {
        Deno.removeSync(d, { recursive: true });
      } catch { /* gone */ }
    }
  }
}

const IMAGE = "localhost/ctr-test-bb:latest";

podmanTest("podman --runtime ctr: run --rm prints and returns the exit code", async (p) => {
  const before = census(tempStore());
  const r = await p.run(["run", "--rm", "--network", "none", IMAGE, "echo", "hello from ctr"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "hello from ctr\n");
  const code = await p.run(["run", "--rm", "--network", "none", IMAGE, "sh", "-c", "exit 42"]);
  assert.equal(code.code, 42);
  const missing = await p.run(["run", "--rm", "--network", "none", IMAGE, "/no/such"]);
  assert.equal(missing.code, 127, missing.stderr);
  // podman's default profile (containers-common's), through ctr: a filter, keyctl refused.
  const confined = await p.run([
    "run",
    "--rm",
    "--network",
    "none",
    IMAGE,
    "sh",
    "-c",
    "grep '^Seccomp:' /proc/self/status; grep -c . /proc/self/status >/dev/null && echo ok",
  ]);
  assert.equal(confined.code, 0, confined.stderr);
  assert.match(confined.stdout, /^Seccomp:\s+2$/m);
  assert.equal((await p.run(["ps", "-aq"])).stdout.trim(), "");
  assert.deepEqual(census(tempStore()), before);
});

podmanTest("podman --runtime ctr: run -d, ps, exec, pause, unpause, stop, rm", async (p) => {
  const before = census(tempStore());
  const d = await p.run([
    "run",
    "-d",
    "--name",
    "svc",
    "--network",
    "none",
    IMAGE,
    "sleep",
    "1000",
  ]);
  assert.equal(d.code, 0, d.stderr);
  assert.match((await p.run(["ps", "--format", "{{.Names}} {{.Status}}"])).stdout, /^svc Up/m);
  const ex = await p.run([
    "exec",
    "svc",
    "sh",
    "-c",
    "echo in-exec; ps -o pid,args; grep '^Seccomp:' /proc/self/status; exit 5",
  ]);
  assert.equal(ex.code, 5, ex.stderr);
  assert.match(ex.stdout, /^Seccomp:\s+2$/m);
  assert.match(ex.stdout, /^in-exec$/m);
  assert.match(ex.stdout, /^\s*1 sleep 1000$/m);
  assert.equal((await p.run(["pause", "svc"])).code, 0);
  assert.equal(
    (await p.run(["inspect", "-f", "{{.State.Status}}", "svc"])).stdout.trim(),
    "paused",
  );
  assert.equal((await p.run(["unpause", "svc"])).code, 0);
  assert.equal(
    (await p.run(["inspect", "-f", "{{.State.Status}}", "svc"])).stdout.trim(),
    "running",
  );
  const stop = await p.run(["stop", "-t", "1", "svc"]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal((await p.run(["inspect", "-f", "{{.State.ExitCode}}", "svc"])).stdout.trim(), "137");
  const id = (await p.run(["inspect", "-f", "{{.Id}}", "svc"])).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal((await p.run(["rm", "svc"])).code, 0);
  // podman keeps its runtime state in ctr's default root, shared with anything else on the host.
  const list = await new Deno.Command(ociBinary(), { args: ["list", "-q"], stdout: "piped" })
    .output();
  assert.ok(!dec.decode(list.stdout).split("\n").includes(id), `${id} is still listed`);
  assert.deepEqual(census(tempStore()), before);
});

podmanTest(
  "podman --runtime ctr: run -it gets a terminal through the console socket",
  async (p) => {
    const line = ["podman", ...p.args(), "run", "--rm", "-it", "--network", "none", IMAGE]
      .concat(["sh", "-c", "tty; exit 3"]).map((a) => `'${a}'`).join(" ");
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("script", {
        args: ["-qec", line, "/dev/null"],
        env: { CONTAINERS_CONF: `${p.dir}/containers.conf` },
        stdin: "null",
        stdout: "piped",
      }).output();
    } catch {
      console.log("skipped: util-linux `script` is not installed");
      return;
    }
    assert.match(dec.decode(out.stdout), /\/dev\/pts\/0/);
    assert.equal(out.code, 3);
  },
);
