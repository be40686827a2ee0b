/**
 * `--init` and health checks end to end (root): the init is PID 1 from a
 * memfd (no file on the host or in the container), reaps orphans that a
 * plain PID 1 leaves as zombies, passes SIGTERM on so that `stop` ends at
 * once; a health check flips a container from healthy to unhealthy and back,
 * keeps its last five results, honours its start period and timeout, and
 * an image's HEALTHCHECK and STOPSIGNAL apply unless turned off.
 */
import assert from "node:assert/strict";
import { busyboxImageTar, containerBench, tempDir, testRootfs } from "../_helpers.ts";

const { c, inspect, test: ihTest } = containerBench();

async function until(what: string, fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runD(args: string[]): Promise<void> {
  const r = await c(["run", "-d", ...args]);
  assert.equal(r.code, 0, r.stderr);
}

ihTest(
  "--init: PID 1 is ctr-init from a memfd, the command its child; nothing on disk",
  async () => {
    const r = await c([
      "run",
      "--rm",
      "--init",
      "--rootfs",
      testRootfs(),
      "sh",
      "-c",
      "readlink /proc/1/exe; tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$ $PPID; ls -a /",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [exe, cmdline, ids, ...root] = r.stdout.trim().split("\n");
    assert.match(exe, /^\/memfd:ctr-init/);
    assert.match(cmdline, /^ctr-init -- sh -c /);
    assert.equal(ids, "2 1");
    const plain = await c(["run", "--rm", "--rootfs", testRootfs(), "ls", "-a", "/"]);
    assert.deepEqual(root, plain.stdout.trim().split("\n"), "the root filesystem is the same");
    // Exit codes: the command's; 127 when it is not there, as docker's init.
    assert.equal(
      (await c(["run", "--rm", "--init", "--rootfs", testRootfs(), "sh", "-c", "exit 6"]))
        .code,
      6,
    );
    const missing = await c(["run", "--rm", "--init", "--rootfs", testRootfs(), "no-such-cmd"]);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /ctr-init: exec no-such-cmd failed: No such file or directory/);
  },
);

ihTest("--init reaps orphans; a PID 1 that does not wait leaves them zombies", async () => {
  // The orphan's parent exits at once; PID 1 (sleep, or the init) inherits it.
  const script = '(sh -c "sleep 0.2" &); exec sleep 100';
  await runD(["--name", "reaped", "--init", "--rootfs", testRootfs(), "sh", "-c", script]);
  await runD(["--name", "zombies", "--rootfs", testRootfs(), "sh", "-c", script]);
  await new Promise((r) => setTimeout(r, 1000));
  const zombies = async (name: string) => {
    const r = await c([
      "exec",
      name,
      "sh",
      "-c",
      "grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l",
    ]);
    assert.equal(r.code, 0, r.stderr);
    return Number(r.stdout.trim());
  };
  assert.equal(await zombies("reaped"), 0);
  assert.equal(await zombies("zombies"), 1);
});

ihTest(
  "--init passes SIGTERM on: stop ends at once (143); without it the timeout kills",
  async () => {
    await runD(["--name", "fast", "--init", "--rootfs", testRootfs(), "sleep", "100"]);
    await runD(["--name", "slow", "--rootfs", testRootfs(), "sleep", "100"]);
    await new Promise((r) => setTimeout(r, 300));
    let t0 = Date.now();
    assert.equal((await c(["stop", "-t", "5", "fast"])).code, 0);
    assert.ok(Date.now() - t0 < 3000, `stop --init took ${Date.now() - t0} ms`);
    assert.equal(await inspect("fast", "{{.State.ExitCode}} {{.HostConfig.Init}}"), "143 true");
    // sleep as PID 1 has no handler: the kernel drops SIGTERM, and SIGKILL ends it after -t.
    t0 = Date.now();
    assert.equal((await c(["stop", "-t", "1", "slow"])).code, 0);
    assert.ok(Date.now() - t0 >= 900, "the timeout was waited");
    assert.equal(await inspect("slow", "{{.State.ExitCode}}"), "137");
  },
);

ihTest("health: a failing check flips the container to unhealthy, a passing one back", async () => {
  await runD([
    "--name",
    "checked",
    "--health-cmd",
    "cat /tmp/ok",
    "--health-interval",
    "200ms",
    "--health-retries",
    "2",
    "--rootfs",
    testRootfs(),
    "sh",
    "-c",
    "echo fine > /tmp/ok; exec sleep 100",
  ]);
  const status = () => inspect("checked", "{{.State.Health.Status}}");
  assert.equal(
    await inspect("checked", "{{json .Config.Healthcheck}}"),
    '{"Test":["CMD-SHELL","cat /tmp/ok"],"Interval":200000000,"Retries":2}',
  );
  await until("healthy", async () => (await status()) === "healthy");
  const log = JSON.parse(await inspect("checked", "{{json .State.Health.Log}}"));
  assert.equal(log.at(-1).ExitCode, 0);
  assert.equal(log.at(-1).Output, "fine\n");
  assert.ok(Date.parse(log.at(-1).End) >= Date.parse(log.at(-1).Start));
  assert.equal((await c(["exec", "checked", "rm", "/tmp/ok"])).code, 0);
  await until("unhealthy", async () => (await status()) === "unhealthy");
  const bad = JSON.parse(await inspect("checked", "{{json .State.Health}}"));
  assert.ok(bad.FailingStreak >= 2);
  assert.equal(bad.Log.at(-1).ExitCode, 1);
  assert.match(bad.Log.at(-1).Output, /can't open '\/tmp\/ok'/);
  await until(
    "five results kept",
    async () => JSON.parse(await inspect("checked", "{{json .State.Health.Log}}")).length === 5,
  );
  assert.equal((await c(["exec", "checked", "sh", "-c", "echo back > /tmp/ok"])).code, 0);
  await until("healthy again", async () => (await status()) === "healthy");
  assert.equal(await inspect("checked", "{{.State.Health.FailingStreak}}"), "0");
  // The checks run one at a time, as the container's user, in its cgroup: none is left after stop.
  assert.equal((await c(["stop", "-t", "1", "checked"])).code, 0);
  const after = await inspect("checked", "{{.State.Health.Status}}");
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(
    await inspect("checked", "{{.State.Health.Status}}"),
    after,
    "no check after the end",
  );
});

ihTest("health: the start period, the timeout, --no-healthcheck", async () => {
  await runD([
    "--name",
    "starting",
    "--health-cmd",
    "false",
    "--health-interval",
    "100ms",
    "--health-retries",
    "1",
    "--health-start-period",
    "60s",
    "--rootfs",
    testRootfs(),
    "sleep",
    "100",
  ]);
  await runD([
    "--name",
    "slowcheck",
    "--health-cmd",
    "sleep 5",
    "--health-timeout",
    "300ms",
    "--health-interval",
    "100ms",
    "--health-retries",
    "1",
    "--rootfs",
    testRootfs(),
    "sleep",
    "100",
  ]);
  await until(
    "two failed checks",
    async () => JSON.parse(await inspect("starting", "{{json .State.Health.Log}}")).length >= 2,
  );
  // Failures within the start period do not count.
  assert.equal(
    await inspect("starting", "{{.State.Health.Status}} {{.State.Health.FailingStreak}}"),
    "starting 0",
  );
  await until(
    "timed out",
    async () => (await inspect("slowcheck", "{{.State.Health.Status}}")) === "unhealthy",
  );
  const last = JSON.parse(await inspect("slowcheck", "{{json .State.Health.Log}}")).at(-1);
  assert.equal(last.ExitCode, -1);
  assert.equal(last.Output, "Health check exceeded timeout (300ms)");
  // The killed check is gone: only the container's sleep is left in it.
  const ps = await c(["exec", "slowcheck", "ps", "-o", "comm"]);
  assert.doesNotMatch(ps.stdout, /sleep\n.*sleep\n.*sleep/s);
  const off = await c([
    "run",
    "-d",
    "--name",
    "off",
    "--no-healthcheck",
    "--rootfs",
    testRootfs(),
    "sleep",
    "100",
  ]);
  assert.equal(off.code, 0, off.stderr);
  assert.equal(JSON.parse((await c(["inspect", "off"])).stdout)[0].State.Health, undefined);
});

/**
 * The busybox image with more in its config (a HEALTHCHECK, a STOPSIGNAL),
 * tagged `tag`, as a docker-save archive.
 */
async function imageWith(extra: Record<string, unknown>, tag: string): Promise<string> {
  const src = await busyboxImageTar(tag);
  const dir = tempDir();
  assert.ok((await new Deno.Command("tar", { args: ["-xf", src, "-C", dir] }).output()).success);
  const manifest = JSON.parse(Deno.readTextFileSync(`${dir}/manifest.json`));
  const config = JSON.parse(Deno.readTextFileSync(`${dir}/${manifest[0].Config}`));
  config.config = { ...config.config, ...extra };
  const text = new TextEncoder().encode(JSON.stringify(config));
  const hex = [...new Uint8Array(await crypto.subtle.digest("SHA-256", text))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  Deno.removeSync(`${dir}/${manifest[0].Config}`);
  Deno.writeFileSync(`${dir}/${hex}.json`, text);
  manifest[0].Config = `${hex}.json`;
  Deno.writeTextFileSync(`${dir}/manifest.json`, JSON.stringify(manifest));
  const out = `${tempDir()}/image.tar`;
  assert.ok(
    (await new Deno.Command("tar", { args: ["-cf", out, "-C", dir, "."] }).output()).success,
  );
  return out;
}

ihTest("the image's HEALTHCHECK and STOPSIGNAL apply; flags override them", async () => {
  const tar = await imageWith({
    Healthcheck: { Test: ["CMD", "test", "-e", "/tmp/ready"], Interval: 200_000_000, Retries: 1 },
    StopSignal: "SIGUSR1",
  }, "checked:1");
  const load = await c(["load", "-i", tar]);
  assert.equal(load.code, 0, load.stderr);
  const trap = 'trap "echo stopped by USR1; exit 8" USR1; touch /tmp/ready; ' +
    "while :; do sleep 0.05; done";
  await runD(["--name", "img", "--pull", "never", "checked:1", "sh", "-c", trap]);
  assert.equal(
    await inspect("img", "{{json .Config.Healthcheck}} {{.Config.StopSignal}}"),
    '{"Test":["CMD","test","-e","/tmp/ready"],"Interval":200000000,"Retries":1} SIGUSR1',
  );
  await until(
    "healthy",
    async () => (await inspect("img", "{{.State.Health.Status}}")) === "healthy",
  );
  assert.equal((await c(["stop", "img"])).code, 0);
  assert.equal(await inspect("img", "{{.State.ExitCode}}"), "8");
  assert.equal((await c(["logs", "img"])).stdout, "stopped by USR1\n");
  // --no-healthcheck turns the image's off; the flags' settings win over the image's.
  await runD([
    "--name",
    "nocheck",
    "--pull",
    "never",
    "--no-healthcheck",
    "checked:1",
    "sleep",
    "50",
  ]);
  const none = JSON.parse((await c(["inspect", "nocheck"])).stdout)[0];
  assert.equal(none.State.Health, undefined);
  assert.equal(none.Config.Healthcheck, undefined);
  await runD([
    "--name",
    "retuned",
    "--pull",
    "never",
    "--health-retries",
    "4",
    "--stop-signal",
    "SIGTERM",
    "checked:1",
    "sleep",
    "50",
  ]);
  assert.equal(
    await inspect("retuned", "{{.Config.Healthcheck.Retries}} {{.Config.StopSignal}}"),
    "4 SIGTERM",
  );
});
