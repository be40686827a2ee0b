/**
 * `ctr serve`'s container routes beyond run and exec, driven by Debian's
 * docker CLI: ps filters, top, stats, pause and unpause, rename, restart,
 * update (the live cgroup changes), cp both ways, diff, export, prune, a
 * pty's size; and the server itself: 50 concurrent `run --rm` through one
 * server, and a server stopped with SIGTERM leaves its containers running
 * for the next one to find.
 */
import assert from "node:assert/strict";
import { busyboxImageTar, census, ctr, rootTest, tempDir } from "../_helpers.ts";
import { DOCKER } from "../_docker.ts";
import { startServer } from "../_serve.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The memory limit a running container's cgroup holds (v1 or v2), from its /proc/PID/cgroup. */
function memoryLimit(pid: number): string {
  const lines = Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n");
  const v1 = lines.find((l) => /^\d+:memory:/.test(l));
  if (v1) {
    return Deno.readTextFileSync(`/sys/fs/cgroup/memory${v1.split(":")[2]}/memory.limit_in_bytes`)
      .trim();
  }
  const v2 = lines.find((l) => l.startsWith("0::"))!.slice(3);
  return Deno.readTextFileSync(`/sys/fs/cgroup${v2}/memory.max`).trim();
}

if (!DOCKER) {
  Deno.test({
    name: "ctr serve: container routes [skipped: docker.io is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest(
    "ctr serve: top, stats, pause, rename, restart, update, cp, diff, export, prune",
    async () => {
      const s = await startServer();
      const before = census(s.store);
      const d = s.docker;
      try {
        assert.equal((await d(["load", "-i", await busyboxImageTar()])).code, 0);
        const run = await d([
          "run",
          "-d",
          "--name",
          "a",
          "--label",
          "tier=web",
          "--network",
          "none",
          "busybox",
          "sleep",
          "1000",
        ]);
        assert.equal(run.code, 0, run.stderr);
        const id = run.stdout.trim();
        await d(["create", "--name", "other", "--network", "none", "busybox", "true"]);
        assert.equal(
          (await d(["ps", "-a", "--filter", "label=tier=web", "--format", "{{.Names}}"])).stdout,
          "a\n",
        );
        assert.equal(
          (await d(["ps", "-a", "--filter", "status=created", "--format", "{{.Names}}"])).stdout,
          "other\n",
        );
        const bad = await d(["ps", "--filter", "colour=red"]);
        assert.notEqual(bad.code, 0);
        assert.match(bad.stderr, /Invalid filter 'colour'/);

        const top = await d(["top", "a"]);
        assert.equal(top.code, 0, top.stderr);
        assert.match(top.stdout, /^UID\s+PID\s+PPID/);
        const pid = Number((await d(["inspect", "-f", "{{.State.Pid}}", "a"])).stdout);
        assert.match(top.stdout, new RegExp(`\\s${pid}\\s.*sleep 1000`));
        // Each sample decodes (uint64 fields hold whole numbers): Debian's 20.10 client reports a
        // field it cannot decode as a bare "EOF", and a sample's CPU times vary from one to the next.
        for (let i = 0; i < 5; i++) {
          const stats = await d(["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "a"]);
          assert.equal(stats.stdout, "a 1\n", stats.stderr);
        }

        assert.equal((await d(["pause", "a"])).code, 0);
        assert.equal((await d(["inspect", "-f", "{{.State.Status}}", "a"])).stdout, "paused\n");
        const again = await d(["pause", "a"]);
        assert.match(again.stderr, /already paused/);
        assert.equal((await d(["unpause", "a"])).code, 0);
        assert.equal((await d(["inspect", "-f", "{{.State.Status}}", "a"])).stdout, "running\n");

        assert.equal((await d(["rename", "a", "b"])).code, 0);
        assert.equal((await d(["inspect", "-f", "{{.Name}}", id])).stdout, "/b\n");
        const taken = await d(["rename", "b", "other"]);
        assert.match(taken.stderr, /already in use/);

        assert.equal(
          (await d(["update", "--memory", "64m", "--memory-swap", "128m", "b"])).code,
          0,
        );
        assert.equal(memoryLimit(pid), String(64 * 1024 * 1024));

        // The container's files: in, out, the changes, the whole tree.
        const host = tempDir();
        Deno.writeTextFileSync(`${host}/in.txt`, "from the host\n");
        assert.equal((await d(["cp", `${host}/in.txt`, "b:/tmp/"])).code, 0);
        assert.equal((await d(["exec", "b", "cat", "/tmp/in.txt"])).stdout, "from the host\n");
        await d(["exec", "b", "sh", "-c", "echo made > /made.txt"]);
        const out = await d(["cp", "b:/made.txt", `${host}/out.txt`]);
        assert.equal(out.code, 0, out.stderr);
        assert.equal(Deno.readTextFileSync(`${host}/out.txt`), "made\n");
        // A symlink: as the link, and with -L its target (through a linked directory, inside the
        // container, named as the link).
        await d([
          "exec",
          "b",
          "sh",
          "-c",
          "mkdir /real && echo data > /real/data.txt && ln -s /real /dirlink && " +
          "ln -s data.txt /real/link",
        ]);
        const asLink = await d(["cp", "b:/dirlink/link", `${host}/asLink`]);
        assert.equal(asLink.code, 0, asLink.stderr);
        assert.equal(Deno.readLinkSync(`${host}/asLink`), "data.txt");
        const followed = await d(["cp", "-L", "b:/dirlink/link", `${host}/followed`]);
        assert.equal(followed.code, 0, followed.stderr);
        assert.ok(Deno.lstatSync(`${host}/followed`).isFile);
        assert.equal(Deno.readTextFileSync(`${host}/followed`), "data\n");
        const missing = await d(["cp", "b:/no/such", host]);
        assert.notEqual(missing.code, 0);
        assert.match(missing.stderr, /No such container:path: b:\/no\/such/);
        const diff = await d(["diff", "b"]);
        assert.match(diff.stdout, /^A \/made\.txt$/m);
        assert.match(diff.stdout, /^A \/tmp\/in\.txt$/m);
        const exp = await new Deno.Command("sh", {
          args: ["-c", `"$0" export b | tar t | grep -c '^made.txt$'`, "/usr/bin/docker"],
          env: { DOCKER_HOST: `unix://${s.sock}` },
          stdout: "piped",
        }).output();
        assert.equal(new TextDecoder().decode(exp.stdout).trim(), "1");

        // restart: a new process, the same container.
        assert.equal((await d(["restart", "-t", "1", "b"])).code, 0);
        const pid2 = Number((await d(["inspect", "-f", "{{.State.Pid}}", "b"])).stdout);
        assert.ok(pid2 > 0 && pid2 !== pid, `pid ${pid} then ${pid2}`);
        assert.equal((await d(["inspect", "-f", "{{.State.Status}}", "b"])).stdout, "running\n");

        // prune: the stopped ones only.
        assert.equal((await d(["stop", "-t", "1", "b"])).code, 0);

        // system df: docker's CLI adds up the API's lists as ctr's own command does.
        const df = await d(["system", "df"]);
        assert.equal(df.code, 0, df.stderr);
        const own = await ctr(["--root", s.store, "--state-dir", s.state, "system", "df"]);
        assert.equal(df.stdout, own.stdout);
        assert.match(df.stdout, /^Containers\s+2\s+0\s+\d/m);
        const dfv = await d(["system", "df", "-v"]);
        assert.equal(dfv.code, 0, dfv.stderr);
        assert.match(dfv.stdout, /^busybox\s+latest\s/m);
        assert.match(dfv.stdout, /\sb\n/);
        const prune = await d(["container", "prune", "-f"]);
        assert.equal(prune.code, 0, prune.stderr);
        assert.match(prune.stdout, new RegExp(id));
        assert.equal((await d(["ps", "-aq"])).stdout, "");
      } finally {
        const left = (await d(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
        if (left.length) await d(["rm", "-f", ...left]);
        assert.equal(await s.stop(), 0);
      }
      const after = census(s.store);
      assert.deepEqual(
        { mounts: after.mounts, cgroups: after.cgroups, containers: after.containers },
        { mounts: before.mounts, cgroups: before.cgroups, containers: before.containers },
      );
    },
  );

  rootTest("ctr serve: a pty gets the client's window size", async () => {
    const s = await startServer();
    try {
      assert.equal((await s.docker(["load", "-i", await busyboxImageTar()])).code, 0);
      const line = `stty rows 31 cols 101; /usr/bin/docker run -it --rm --network none busybox ` +
        `sh -c 'sleep 0.3; stty size; exit 3'`;
      const out = await new Deno.Command("script", {
        args: ["-qec", line, "/dev/null"],
        env: { DOCKER_HOST: `unix://${s.sock}` },
        stdin: "null",
        stdout: "piped",
      }).output();
      assert.equal(out.code, 3);
      assert.match(new TextDecoder().decode(out.stdout), /31 101/);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });

  rootTest("ctr serve: 50 concurrent run --rm, and nothing left behind", async () => {
    const s = await startServer();
    const before = census(s.store);
    try {
      assert.equal((await s.docker(["load", "-i", await busyboxImageTar()])).code, 0);
      const runs = await Promise.all(
        Array.from(
          { length: 50 },
          (_, i) =>
            s.docker(["run", "--rm", "--network", "none", "busybox", "sh", "-c", `echo ${i}`]),
        ),
      );
      runs.forEach((r, i) => assert.deepEqual([r.code, r.stdout], [0, `${i}\n`], r.stderr));
      assert.equal((await s.docker(["ps", "-aq"])).stdout, "");
    } finally {
      assert.equal(await s.stop(), 0);
    }
    const after = census(s.store);
    assert.deepEqual(
      { mounts: after.mounts, cgroups: after.cgroups, containers: after.containers },
      { mounts: before.mounts, cgroups: before.cgroups, containers: before.containers },
    );
  });

  rootTest(
    "ctr serve: SIGTERM stops the server, not its containers; the next one finds them",
    async () => {
      const s = await startServer();
      assert.equal((await s.docker(["load", "-i", await busyboxImageTar()])).code, 0);
      const r = await s.docker([
        "run",
        "-d",
        "--name",
        "lives",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const pid = Number((await s.docker(["inspect", "-f", "{{.State.Pid}}", "lives"])).stdout);
      assert.equal(await s.stop(), 0);
      await sleep(100);
      assert.match(Deno.readTextFileSync(`/proc/${pid}/cmdline`), /^sleep\0/);
      const next = await startServer({ store: s.store, state: s.state });
      try {
        const ps = await next.docker(["ps", "--format", "{{.Names}} {{.Status}}"]);
        assert.match(ps.stdout, /^lives Up/);
        assert.equal((await next.docker(["rm", "-f", "lives"])).code, 0);
      } finally {
        assert.equal(await next.stop(), 0);
      }
    },
  );
}
