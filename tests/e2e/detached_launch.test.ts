/**
 * launchDetached (root): a detached container launched from this process,
 * whose parent is the watcher its first child became: the watcher logs its
 * stdout and stderr, reaps it and records its exit; this process goes on,
 * the parent of the watcher only. A step that fails in the container, or in
 * the watcher-to-be, leaves no process behind.
 */
import assert from "node:assert/strict";
import { AT, O } from "../../ffi/constants.ts";
import { addressOf, close, cString, pipe, sysRaw } from "../../ffi/sys.ts";
import { openWatcher } from "../../ffi/watch.ts";
import { parseRunArgs, readRunHost } from "../../lib/cli/run.ts";
import { runConfig } from "../../lib/config/docker_run.ts";
import { containerPlan, PHASE_FORKED } from "../../lib/runtime/container_plan.ts";
import { launchDetached } from "../../lib/runtime/detached.ts";
import { readPlanHost } from "../../lib/runtime/host.ts";
import { PlanError } from "../../lib/runtime/plan.ts";
import { waitPidfd } from "../../lib/runtime/spawn.ts";
import { rootTest, tempDir, testRootfs } from "../_helpers.ts";

/** A --rootfs container running `script`, with stdout and stderr on pipes. */
function setUp(script: string) {
  const store = tempDir();
  Deno.chmodSync(store, 0o711);
  const req = runConfig(
    parseRunArgs(["--rootfs", testRootfs(), "sh", "-c", script]),
    readRunHost(store),
  );
  const [outR, outW] = pipe();
  const [errR, errW] = pipe();
  const cfg = {
    ...req.config,
    process: { ...req.config.process, dieWithParent: false, stdio: { stdout: outW, stderr: errW } },
  };
  for (const d of ["", "/upper", "/work", "/merged"]) {
    Deno.mkdirSync(cfg.dir + d, { recursive: true });
  }
  const plan = containerPlan(cfg, readPlanHost(), { startPhase: PHASE_FORKED });
  return { cfg, plan, fds: { outR, outW, errR, errW }, dir: tempDir() };
}

async function until(what: string, fn: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function ppidOf(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

rootTest(
  "launchDetached: the watcher is the container's parent; it logs, reaps and records",
  async () => {
    const { plan, fds, dir } = setUp("echo out; echo err >&2; sleep 0.5; exit 3");
    const memfd = openWatcher();
    // An fd this process holds without close-on-exec (as one inherited from a shell would be).
    const leaky = sysRaw("openat", AT.FDCWD, addressOf(cString("/dev/null")), O.RDONLY, 0);
    assert.ok(leaky >= 0);
    let launched;
    try {
      launched = await launchDetached(plan, {
        memfd,
        stdout: fds.outR,
        stderr: fds.errR,
        argv: (f) => [
          "ctr-watch",
          f.container,
          f.stdout,
          f.stderr,
          `${dir}/log`,
          "0",
          "1",
          `${dir}/exit`,
        ],
        env: [],
      }, {});
    } finally {
      for (const fd of Object.values(fds)) close(fd);
      close(memfd);
      close(leaky);
    }
    // The watcher holds what it was handed (stdio on /dev/null, the pidfd, the two pipes) and
    // its log, nothing else of this process's.
    const held = [...Deno.readDirSync(`/proc/${launched.watcherPid}/fd`)].map((e) => Number(e.name))
      .sort((a, b) => a - b);
    assert.deepEqual(held.filter((fd) => ![0, 1, 2, 3, 64, 65, 66].includes(fd)), [], `${held}`);
    assert.equal(
      ppidOf(launched.pid),
      launched.watcherPid,
      "the watcher is the container's parent",
    );
    assert.equal(ppidOf(launched.watcherPid), Deno.pid, "this process is the watcher's parent");
    assert.notEqual(
      Deno.readLinkSync(`/proc/${launched.pid}/ns/pid`),
      Deno.readLinkSync("/proc/self/ns/pid"),
    );
    await until("the exit record", () => {
      try {
        return Deno.statSync(`${dir}/exit`).isFile;
      } catch {
        return false;
      }
    });
    assert.equal(JSON.parse(Deno.readTextFileSync(`${dir}/exit`)).exitCode, 3);
    const log = Deno.readTextFileSync(`${dir}/log`).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(log.map((r) => [r.stream, r.log]).sort(), [["stderr", "err\n"], [
      "stdout",
      "out\n",
    ]]);
    assert.deepEqual(await waitPidfd(launched.watcherPidfd), { code: 0 });
    close(launched.watcherPidfd);
    close(launched.pidfd);
  },
);

rootTest("launchDetached: a failing exec leaves neither the container nor a watcher", async () => {
  const { plan, fds, dir } = setUp("true");
  const bad = {
    ...plan,
    steps: plan.steps.map((s) =>
      s.call === "execve" ? { ...s, args: [{ str: "/nonexistent" }, ...s.args.slice(1)] } : s
    ),
  };
  const memfd = openWatcher();
  const before = new Set(childrenOf(Deno.pid));
  try {
    await assert.rejects(
      launchDetached(bad, {
        memfd,
        stdout: fds.outR,
        stderr: fds.errR,
        argv: (f) => ["ctr-watch", f.container, f.stdout, f.stderr, "-", "0", "1", `${dir}/exit`],
        env: [],
      }, {}),
      (e) => e instanceof PlanError && e.step.call === "execve",
    );
  } finally {
    for (const fd of Object.values(fds)) close(fd);
    close(memfd);
  }
  assert.deepEqual(childrenOf(Deno.pid).filter((p) => !before.has(p)), []);
  assert.throws(() => Deno.statSync(`${dir}/exit`));
});

function childrenOf(pid: number): number[] {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)
      .filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
