/**
 * update and rename through the command line (root): limits written to the
 * running container's cgroup files and recorded for its next start; a new
 * name seen by ps, inspect and events, the old one free again.
 */
import assert from "node:assert/strict";
import { testRootfs } from "../_helpers.ts";
import { envTest } from "./_cli_env.ts";

/** A cgroup file of a container, in whichever hierarchy (v1) or the unified one (v2) has it. */
function cgroupFile(paths: Record<string, string>, v1: string, v2: string): string {
  for (const [h, dir] of Object.entries(paths)) {
    if (h === "unified" || h === "") {
      try {
        return Deno.readTextFileSync(`${dir}/${v2}`).trim();
      } catch { /* a hybrid host's unified hierarchy has no controllers */ }
    }
  }
  for (const dir of Object.values(paths)) {
    try {
      return Deno.readTextFileSync(`${dir}/${v1}`).trim();
    } catch { /* not this hierarchy */ }
  }
  throw new Error(`no ${v1} or ${v2} in ${JSON.stringify(paths)}`);
}

envTest(
  "update --memory, --pids-limit, --cpus change the live cgroup; the record keeps them",
  async (env) => {
    const id = await env.runD([
      "--name",
      "up",
      "-m",
      "32m",
      "--rootfs",
      testRootfs(),
      "sleep",
      "1000",
    ]);
    const paths = env.stateOf(id).cgroupPaths;
    const mem = () => cgroupFile(paths, "memory.limit_in_bytes", "memory.max");
    assert.equal(mem(), String(32 << 20));
    assert.equal(
      await env.ok([
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--pids-limit",
        "20",
        "--cpus",
        "0.5",
        "up",
      ]),
      "up\n",
    );
    assert.equal(mem(), String(64 << 20));
    assert.equal(cgroupFile(paths, "pids.max", "pids.max"), "20");
    const quota = cgroupFile(paths, "cpu.cfs_quota_us", "cpu.max");
    assert.ok(quota === "50000" || quota === "50000 100000", quota);
    const hc = JSON.parse(await env.ok(["inspect", "up"]))[0].HostConfig;
    assert.equal(hc.Memory, 64 << 20);
    assert.equal(hc.PidsLimit, 20);
    assert.equal(hc.NanoCpus, 500_000_000);
    // A limit the kernel or docker's rules refuse leaves the container as it was.
    const bad = await env.c(["update", "--memory", "256m", "up"]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /memoryswap/);
    assert.equal(mem(), String(64 << 20));
    assert.equal((await env.c(["update", "up"])).code, 125);
    assert.match((await env.c(["update", "--kernel-memory", "1g", "up"])).stderr, /not supported/);
    // Restart policy, and a stopped container: recorded, applied when it starts again.
    await env.ok(["update", "--restart", "on-failure:2", "up"]);
    assert.deepEqual(JSON.parse(await env.ok(["inspect", "up"]))[0].HostConfig.RestartPolicy, {
      Name: "on-failure",
      MaximumRetryCount: 2,
    });
    await env.ok(["stop", "-t", "0", "up"]);
    await env.ok(["container", "update", "-m", "48m", "--memory-swap", "96m", "up"]);
    await env.ok(["start", "up"]);
    assert.equal(
      cgroupFile(env.stateOf(id).cgroupPaths, "memory.limit_in_bytes", "memory.max"),
      String(48 << 20),
    );
  },
);

envTest(
  "rename: ps, inspect and events know the new name; the old one can be taken again",
  async (env) => {
    await env.runD(["--name", "old", "--rootfs", testRootfs(), "sleep", "1000"]);
    await env.ok(["rename", "old", "new"]);
    assert.equal(await env.ok(["ps", "--format", "{{.Names}}"]), "new\n");
    assert.equal(await env.ok(["inspect", "-f", "{{.Name}}", "new"]), "/new\n");
    assert.equal((await env.c(["inspect", "old"])).code, 1);
    const again = await env.c(["rename", "new", "new"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /same name as its current name/);
    await env.runD(["--name", "old", "--rootfs", testRootfs(), "sleep", "1000"]);
    const clash = await env.c(["container", "rename", "new", "old"]);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /Conflict\. The container name "\/old" is already in use/);
    assert.equal((await env.c(["rename", "new", "bad/name"])).code, 1);
    const ev = await env.ok([
      "events",
      "--since",
      "1m",
      "--until",
      "0s",
      "--filter",
      "event=rename",
      "--format",
      "{{.Actor.Attributes.oldName}} {{.Actor.Attributes.name}}",
    ]);
    assert.equal(ev, "/old new\n");
  },
);
