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
import { Dockerd, installed } from "../_dockerd.ts";

const dec = new TextDecoder();
const repo = new URL("../..", import.meta.url).pathname;

const DOCKER = installed("dockerd") && installed("docker");

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
    const d = await Dockerd.start({ extraArgs: ["--add-runtime", `ctr=${ociBinary()}`] });
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
