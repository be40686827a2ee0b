/**
 * `ctr serve` driven by docker's own clients (root): Debian's docker CLI
 * (20.10) with DOCKER_HOST on a socket of the test's, and Debian's Python
 * SDK (python3-docker). Each runs the everyday workflow through the Engine
 * API (version, info, load, images, run in the foreground with output and
 * exit codes, run -d, ps, logs, inspect, exec, stop, rm, a published port);
 * the server answers garbage with 400 and a huge header with 431 and goes
 * on, and leaves nothing behind.
 */
import assert from "node:assert/strict";
import { busyboxImageTar, census, rootTest } from "../_helpers.ts";
import { DOCKER } from "../_docker.ts";
import { hasPythonSdk, raw, runPython, startServer } from "../_serve.ts";

if (!DOCKER) {
  Deno.test({
    name: "ctr serve: docker's CLI [skipped: docker.io is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest("ctr serve: docker's CLI runs the everyday workflow against it", async () => {
    const s = await startServer();
    const before = census(s.store);
    try {
      const v = await s.docker(["version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}"]);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.stdout.trim(), "1.41 linux");
      const info = await s.docker(["info", "--format", "{{.OSType}} {{.Containers}}"]);
      assert.equal(info.stdout.trim(), "linux 0", info.stderr);
      const load = await s.docker(["load", "-i", await busyboxImageTar()]);
      assert.equal(load.code, 0, load.stderr);
      assert.match(load.stdout, /Loaded image: busybox:latest/);
      const images = await s.docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
      assert.equal(images.stdout.trim(), "busybox:latest");

      // The foreground: output, both streams, the exit code; --rm leaves nothing.
      const hi = await s.docker(["run", "--rm", "--network", "none", "busybox", "echo", "hi"]);
      assert.deepEqual([hi.code, hi.stdout], [0, "hi\n"], hi.stderr);
      const both = await s.docker([
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
      ]);
      assert.deepEqual([both.code, both.stdout, both.stderr], [3, "out\n", "err\n"]);
      const stdin = await s.docker(
        ["run", "--rm", "-i", "--network", "none", "busybox", "wc", "-l"],
        "a\nb\n",
      );
      assert.equal(stdin.stdout.trim(), "2", stdin.stderr);

      // Detached: ps, logs, inspect, exec, stop, rm.
      const d = await s.docker([
        "run",
        "-d",
        "--name",
        "w",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 1000",
      ]);
      assert.equal(d.code, 0, d.stderr);
      const ps = await s.docker(["ps", "--format", "{{.Names}} {{.Image}}"]);
      assert.equal(ps.stdout.trim(), "w busybox");
      const pid = Number((await s.docker(["inspect", "-f", "{{.State.Pid}}", "w"])).stdout);
      assert.ok(pid > 0);
      assert.match(Deno.readTextFileSync(`/proc/${pid}/cmdline`), /^sleep\0/);
      let logs = "";
      for (let i = 0; i < 50 && logs === ""; i++) {
        logs = (await s.docker(["logs", "w"])).stdout;
        if (logs === "") await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(logs, "started\n");
      const ex = await s.docker(["exec", "w", "sh", "-c", "echo x; echo y >&2; exit 4"]);
      assert.deepEqual([ex.code, ex.stdout, ex.stderr], [4, "x\n", "y\n"]);
      const exi = await s.docker(["exec", "-i", "w", "sh"], "echo from-stdin; exit 2\n");
      assert.deepEqual([exi.code, exi.stdout], [2, "from-stdin\n"]);
      assert.equal((await s.docker(["stop", "-t", "1", "w"])).code, 0);
      const st = await s.docker(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "w"]);
      assert.match(st.stdout.trim(), /^exited (137|143)$/);
      assert.equal((await s.docker(["rm", "w"])).code, 0);
      const gone = await s.docker(["inspect", "w"]);
      assert.notEqual(gone.code, 0);
      assert.match(gone.stderr, /No such/);

      // A published port, reached from the host.
      const port = 20000 + Math.floor(Math.random() * 20000);
      const web = await s.docker([
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        `127.0.0.1:${port}:80`,
        "busybox",
        "sh",
        "-c",
        "mkdir /www; echo served > /www/index.html; exec httpd -f -p 80 -h /www",
      ]);
      assert.equal(web.code, 0, web.stderr);
      let page = "";
      for (let i = 0; i < 50 && page === ""; i++) {
        page = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()).catch(() => "");
        if (page === "") await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(page, "served\n");
      assert.equal((await s.docker(["rm", "-f", "web"])).code, 0);

      // Clients that misbehave get an answer, and the server goes on.
      assert.match(
        await raw(s.sock, new TextEncoder().encode("GARBAGE\r\n\r\n")),
        /^HTTP\/1\.1 400/,
      );
      const huge = new TextEncoder().encode(
        `GET /_ping HTTP/1.1\r\nX-Big: ${"a".repeat(100_000)}\r\n\r\n`,
      );
      assert.match(await raw(s.sock, huge), /^HTTP\/1\.1 431/);
      assert.equal(
        (await s.docker(["version", "--format", "{{.Server.Os}}"])).stdout.trim(),
        "linux",
      );
      assert.equal((await s.docker(["ps", "-aq"])).stdout, "");
    } finally {
      const left = (await s.docker(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
      if (left.length) await s.docker(["rm", "-f", ...left]);
      assert.equal(await s.stop(), 0);
    }
    assert.throws(() => Deno.statSync(s.sock), "the socket goes with the server");
    // The machine's mounts and ctr cgroups as they were, no container left in the store.
    const after = census(s.store);
    assert.deepEqual(
      { mounts: after.mounts, cgroups: after.cgroups, containers: after.containers },
      { mounts: before.mounts, cgroups: before.cgroups, containers: before.containers },
    );
  });
}

if (!DOCKER || !hasPythonSdk()) {
  Deno.test({
    name: "ctr serve: docker's Python SDK [skipped: python3-docker or docker.io is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest("ctr serve: docker's Python SDK runs containers through it", async () => {
    const s = await startServer();
    try {
      assert.equal((await s.docker(["load", "-i", await busyboxImageTar()])).code, 0);
      const script = `
import docker
c = docker.DockerClient(base_url="unix://${s.sock}")
print(c.version()["ApiVersion"])
print(",".join(t for i in c.images.list() for t in i.tags))
print(c.containers.run("busybox", "echo hi", remove=True, network_mode="none").decode().strip())
w = c.containers.run("busybox", "sleep 1000", detach=True, name="py", network_mode="none")
print(w.exec_run("sh -c 'echo in-exec; exit 5'").exit_code)
print(c.containers.get("py").status)
w.remove(force=True)
print(len(c.containers.list(all=True)))
`;
      const out = await runPython(script);
      assert.ok(out.success, out.stderr);
      assert.deepEqual(out.lines, [
        "1.41",
        "busybox:latest",
        "hi",
        "5",
        "running",
        "0",
      ]);
    } finally {
      const left = (await s.docker(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
      if (left.length) await s.docker(["rm", "-f", ...left]);
      assert.equal(await s.stop(), 0);
    }
  });
}
