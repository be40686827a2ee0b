/**
 * dockerd drives ctr as an OCI runtime (root): Debian's docker.io, started by
 * the test with its own data root, exec root and socket, no bridge and no
 * iptables rules, and `--add-runtime ctr=<ctr-oci>`; `docker run --rm
 * --runtime ctr` and `docker exec` work, and dockerd leaves nothing behind.
 * docker's default settings apply, its seccomp profile included: the
 * container runs under it, and exec'd processes too.
 */
import assert from "node:assert/strict";
import { census, ociBinary, rootTest, tempDir, tempStore } from "../_helpers.ts";

const dec = new TextDecoder();
const repo = new URL("../..", import.meta.url).pathname;

function has(cmd: string): boolean {
  try {
    return new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const DOCKER = has("dockerd") && has("docker");

/** Unmounts whatever is mounted below `dir`, deepest first. */
async function unmountBelow(dir: string): Promise<void> {
  const points = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((l) => l.split(" ")[4]).filter((p) => p && (p === dir || p.startsWith(dir + "/")))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await new Deno.Command("umount", { args: ["-l", p] }).output();
}

class Docker {
  private constructor(readonly dir: string, readonly proc: Deno.ChildProcess) {}

  static async start(): Promise<Docker> {
    const dir = tempDir();
    const proc = new Deno.Command("dockerd", {
      args: [
        "--data-root",
        `${dir}/data`,
        "--exec-root",
        `${dir}/exec`,
        "--pidfile",
        `${dir}/docker.pid`,
        "-H",
        `unix://${dir}/docker.sock`,
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--bridge=none",
        "--storage-driver=vfs",
        "--exec-opt",
        "native.cgroupdriver=cgroupfs",
        "--add-runtime",
        `ctr=${ociBinary()}`,
        "--log-level",
        "error",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const d = new Docker(dir, proc);
    const end = Date.now() + 60_000;
    for (;;) {
      if ((await d.run(["version"])).code === 0) break;
      if (Date.now() > end) {
        await d.stop();
        throw new Error("dockerd did not start within 60 s");
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return d;
  }

  async run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const out = await new Deno.Command("docker", {
      args: ["-H", `unix://${this.dir}/docker.sock`, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  async stop(): Promise<void> {
    await this.run([
      "rm",
      "-f",
      ...(await this.run(["ps", "-aq"])).stdout.split("\n")
        .filter(Boolean),
    ]).catch(() => {});
    try {
      this.proc.kill("SIGTERM");
    } catch { /* gone */ }
    const done = this.proc.output();
    const t = setTimeout(() => {
      try {
        this.proc.kill("SIGKILL");
      } catch { /* gone */ }
    }, 20_000);
    await done;
    clearTimeout(t);
    await unmountBelow(this.dir);
  }
}

const OPTS = ["--runtime", "ctr", "--network", "none"];

if (!DOCKER) {
  Deno.test({
    name: "docker --runtime ctr [skipped: docker.io (dockerd) is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest("docker --runtime ctr: run --rm, exit codes, run -d, exec, rm -f", async () => {
    const before = census(tempStore());
    const d = await Docker.start();
    try {
      const tar = `${tempDir()}/bb.tar`;
      const img = await new Deno.Command("bash", {
        args: [`${repo}scripts/busybox_image.sh`, tar],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(img.success, dec.decode(img.stderr));
      const load = await d.run(["load", "-i", tar]);
      assert.equal(load.code, 0, load.stderr);
      const hi = await d.run(["run", "--rm", ...OPTS, "busybox", "echo", "hello from ctr"]);
      assert.equal(hi.code, 0, hi.stderr);
      assert.equal(hi.stdout, "hello from ctr\n");
      const code = await d.run(["run", "--rm", ...OPTS, "busybox", "sh", "-c", "exit 42"]);
      assert.equal(code.code, 42, code.stderr);
      // docker's default profile, through ctr: a filter, and no user namespace for root.
      const confined = await d.run([
        "run",
        "--rm",
        ...OPTS,
        "busybox",
        "sh",
        "-c",
        "grep '^Seccomp:' /proc/self/status; unshare -U -r true 2>/dev/null; echo unshare=$?",
      ]);
      assert.equal(confined.code, 0, confined.stderr);
      assert.match(confined.stdout, /^Seccomp:\s+2$/m);
      assert.match(confined.stdout, /^unshare=1$/m);
      const bg = await d.run(["run", "-d", "--name", "svc", ...OPTS, "busybox", "sleep", "1000"]);
      assert.equal(bg.code, 0, bg.stderr);
      const ex = await d.run([
        "exec",
        "svc",
        "sh",
        "-c",
        "echo in-exec; ps -o pid,args; grep '^Seccomp:' /proc/self/status; exit 3",
      ]);
      assert.equal(ex.code, 3, ex.stderr);
      assert.match(ex.stdout, /^Seccomp:\s+2$/m);
      assert.match(ex.stdout, /^in-exec$/m);
      assert.match(ex.stdout, /^\s*1 sleep 1000$/m);
      const rm = await d.run(["rm", "-f", "svc"]);
      assert.equal(rm.code, 0, rm.stderr);
      assert.equal((await d.run(["ps", "-aq"])).stdout.trim(), "");
    } finally {
      await d.stop();
    }
    assert.deepEqual(census(tempStore()), before);
  });
}
