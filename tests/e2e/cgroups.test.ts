/**
 * Cgroup drivers on the real kernel (root): a cgroup below our own, processes
 * moved in right after they start (each waits on stdin until it is moved),
 * limits that bite, freezing, killing, and nothing left behind. A test whose
 * controller this host lacks is skipped with the reason in its name.
 */
import assert from "node:assert/strict";
import {
  type Cgroup,
  type CgroupDriver,
  type CgroupLayout,
  cgroupLayout,
  openCgroupDriver,
  realCgroupFs,
  setOomScoreAdj,
  V1Driver,
  V2Driver,
} from "../../lib/cgroups/mod.ts";
import { enosysWrapper, IS_ROOT, rootTest } from "../_helpers.ts";
import { cloneInto } from "../../lib/runtime/spawn.ts";
import { close } from "../../ffi/sys.ts";
import { catCgroupIn, type Report } from "../_clone_into.ts";

const CLONE_INTO = new URL("../_clone_into.ts", import.meta.url).pathname;

const MiB = 1024 * 1024;

let layout: CgroupLayout | undefined;
let driver: CgroupDriver | undefined;
let why = "";
try {
  layout = cgroupLayout(
    Deno.readTextFileSync("/proc/self/mountinfo"),
    Deno.readTextFileSync("/proc/self/cgroup"),
  );
  driver = openCgroupDriver({ layout });
} catch (e) {
  why = (e as Error).message;
}

/** A root test that needs some controllers (v2 names) of this host's driver. */
function cgroupTest(
  name: string,
  needs: readonly string[],
  fn: (d: CgroupDriver) => Promise<void>,
): void {
  if (!IS_ROOT) return rootTest(name, () => {});
  const missing = driver ? needs.filter((c) => !driver!.controllers.includes(c)) : [];
  const skip = !driver ? why : missing.length ? `no ${missing.join(", ")} controller here` : "";
  if (skip) {
    Deno.test({ name: `${name} [skipped: ${skip}]`, ignore: true, fn() {} });
    return;
  }
  rootTest(name, () => fn(driver!));
}

/** The ctr cgroup directories anywhere under /sys/fs/cgroup (`find -name 'ctr*'`). */
function ctrDirs(): string[] {
  const out = new Deno.Command("find", {
    args: ["/sys/fs/cgroup", "-name", "ctr*", "-type", "d"],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).sort();
}

let serial = 0;
const newId = () => `ctrtest-${Deno.pid}-${++serial}`;

/** A shell that waits for a line on stdin before it runs `script`. */
interface Started {
  readonly child: Deno.ChildProcess;
  /** Lets the script run. */
  go(): Promise<void>;
  /** Everything it wrote so far. */
  readonly out: { text: string };
  /** Resolves when stdout closes. */
  readonly done: Promise<void>;
}

/** Starts `sh -c script` held at a `read`, and moves it into `cg` before it runs anything. */
function startIn(cg: Cgroup, script: string): Started {
  const child = new Deno.Command("sh", {
    args: ["-c", `read _; ${script}`],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  cg.addProcess(child.pid);
  const out = { text: "" };
  const done = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stdout) out.text += dec.decode(chunk, { stream: true });
  })();
  return {
    child,
    out,
    done,
    async go() {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("\n"));
      await w.close();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await sleep(10);
  }
}

function stderrOf(child: Deno.ChildProcess): { text: string; done: Promise<string> } {
  const out = { text: "", done: Promise.resolve("") };
  const dec = new TextDecoder();
  out.done = (async () => {
    for await (const chunk of child.stderr) out.text += dec.decode(chunk, { stream: true });
    return out.text;
  })();
  return out;
}

/** Runs `fn` with a fresh cgroup; kills, destroys and checks that no ctr directory is left. */
async function withCgroup(d: CgroupDriver, fn: (cg: Cgroup) => Promise<void>): Promise<void> {
  const before = ctrDirs();
  const cg = d.create(newId());
  try {
    for (const p of Object.values(cg.paths)) assert.ok(realCgroupFs.exists(p), p);
    await fn(cg);
  } finally {
    await cg.killAll();
    await cg.destroy();
  }
  for (const p of Object.values(cg.paths)) assert.equal(realCgroupFs.exists(p), false, p);
  assert.deepEqual(ctrDirs(), before);
}

cgroupTest("the cgroup goes below our own cgroup in every hierarchy", [], async (d) => {
  await withCgroup(d, (cg) => {
    const own = [...(layout!.v1.map((h) => h.own)), layout!.unified?.own].filter(Boolean);
    for (const [name, p] of Object.entries(cg.paths)) {
      const base = p.slice(0, p.lastIndexOf("/"));
      assert.ok(
        own.some((o) => base === `${o}/ctr` || base === `${o!.slice(0, o!.lastIndexOf("/"))}/ctr`),
        `${name}: ${p} is not <own>/ctr/<id> (or, on v2, a ctr sibling of our own cgroup)`,
      );
    }
    return Promise.resolve();
  });
});

cgroupTest("a pids limit of 5 stops a shell forking 8 sleeps", ["pids"], async (d) => {
  await withCgroup(d, async (cg) => {
    cg.apply({ pidsLimit: 5 });
    const p = startIn(cg, "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait");
    const stderr = stderrOf(p.child);
    await p.go();
    let most = 0;
    const events = () => realCgroupFs.read(`${cg.dir("pids")}/pids.events`);
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      most = Math.max(most, cg.stats().pids!.current);
      if (/max [1-9]/.test(events())) break;
      await sleep(5);
    }
    most = Math.max(most, cg.stats().pids!.current);
    assert.match(events(), /max [1-9]/, "the kernel counted refused forks");
    assert.ok(most <= 5 && most >= 2, `pids.current peaked at ${most}`);
    assert.equal(cg.stats().pids!.limit, 5);
    // The shell writes its complaint in pieces: the whole line, before it is killed.
    for (let i = 0; i < 200 && !/fork.*\n/is.test(stderr.text); i++) await sleep(5);
    await cg.killAll();
    assert.deepEqual(cg.pids(), []);
    await p.child.status;
    await p.done;
    assert.match(await stderr.done, /fork/i);
  });
});

cgroupTest("a 32m memory limit OOM-kills a shell that holds 64 MB", ["memory"], async (d) => {
  await withCgroup(d, async (cg) => {
    try {
      cg.apply({ memory: 32 * MiB, memorySwap: 32 * MiB }); // no swap to escape into
    } catch (e) {
      if (!/memory\.(memsw|swap)/.test((e as Error).message)) throw e;
      cg.apply({ memory: 32 * MiB });
    }
    assert.equal(cg.oomKilled(), false);
    const p = startIn(cg, 'x=$(head -c 67108864 /dev/zero | tr "\\000" a); echo survived ${#x}');
    const stderr = stderrOf(p.child);
    await p.go();
    const status = await p.child.status;
    await p.done;
    await stderr.done;
    assert.equal(status.signal, "SIGKILL", `exit ${status.code}, stdout ${p.out.text}`);
    assert.doesNotMatch(p.out.text, /survived/);
    assert.equal(cg.oomKilled(), true);
    const mem = cg.stats().memory!;
    assert.equal(mem.limit, 32 * MiB);
    if (mem.maxUsage !== undefined) assert.ok(mem.maxUsage > 30 * MiB, `peak ${mem.maxUsage}`);
  });
});

const FREEZE_NEEDS = driver?.version === "v2" ? [] : ["freezer"];

cgroupTest("freeze() stops a counting shell and thaw() lets it go on", FREEZE_NEEDS, async (d) => {
  await withCgroup(d, async (cg) => {
    const p = startIn(cg, "i=0; while :; do i=$((i+1)); echo $i; sleep 0.02; done");
    await p.go();
    const last = () => Number(p.out.text.trim().split("\n").pop() || 0);
    await until("the counter", () => last() >= 3);
    await cg.freeze();
    const state = cg.dir("freezer")
      ? realCgroupFs.read(`${cg.dir("freezer")}/freezer.state`).trim()
      : realCgroupFs.read(`${cg.path}/cgroup.events`).match(/frozen (\d)/)![1];
    assert.ok(state === "FROZEN" || state === "1", state);
    await sleep(100); // what was written before the freeze reaches us
    const frozenAt = last();
    await sleep(400);
    assert.equal(last(), frozenAt, "no progress while frozen");
    await cg.thaw();
    await until("progress after thaw", () => last() > frozenAt + 2, 5000);
    // A frozen (paused) container can still be killed.
    await cg.freeze();
    await cg.killAll();
    assert.deepEqual(cg.pids(), []);
    await p.child.status;
    await p.done;
  });
});

cgroupTest("stats() returns sane numbers", ["memory", "pids"], async (d) => {
  await withCgroup(d, async (cg) => {
    cg.apply({ memory: 64 * MiB, pidsLimit: 20 });
    const p = startIn(
      cg,
      'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; x=$(head -c 4000000 /dev/zero | tr "\\000" b); echo ready; sleep 30',
    );
    await p.go();
    await until("the shell", () => p.out.text.includes("ready"));
    const s = cg.stats();
    assert.ok(s.cpu && s.cpu.usageNs > 10_000_000, `cpu ${s.cpu?.usageNs} ns`);
    assert.ok(s.memory!.usage > MiB && s.memory!.usage <= 64 * MiB, `memory ${s.memory!.usage}`);
    assert.equal(s.memory!.limit, 64 * MiB);
    assert.ok(s.pids!.current >= 2 && s.pids!.current <= 20, `pids ${s.pids!.current}`);
    assert.equal(s.pids!.limit, 20);
    if (s.io) assert.ok(s.io.readBytes >= 0 && s.io.writeBytes >= 0);
    assert.deepEqual(cg.pids().sort(), cg.pids().sort());
    assert.ok(cg.pids().includes(p.child.pid));
    await cg.killAll();
    await p.child.status;
    await p.done;
  });
});

cgroupTest("the kernel's refusals name the file and the value", ["memory"], async (d) => {
  await withCgroup(d, (cg) => {
    const file = d.version === "v2" ? "memory.max" : "memory.limit_in_bytes";
    assert.throws(() => realCgroupFs.write(`${cg.dir("memory")}/${file}`, "10x"), {
      message: `write 10x to ${cg.dir("memory")}/${file}: EINVAL (Invalid argument)`,
    });
    return Promise.resolve();
  });
});

cgroupTest("killAll() kills 50 background sleeps; destroy() leaves nothing", [], async (d) => {
  await withCgroup(d, async (cg) => {
    const p = startIn(cg, "for i in $(seq 1 50); do sleep 30 & done; echo started; wait");
    await p.go();
    await until("the sleeps", () => p.out.text.includes("started"));
    assert.ok(cg.pids().length >= 51, `${cg.pids().length} pids`);
    await cg.killAll();
    assert.deepEqual(cg.pids(), []);
    assert.equal((await p.child.status).signal, "SIGKILL");
    await p.done;
  });
});

const V1_ONLY = layout && layout.version !== "v2" &&
  layout.v1.some((h) => h.controllers.includes("freezer"));

if (!IS_ROOT) {
  rootTest("v1 killAll() without cgroup2: freeze, kill each, thaw", () => {});
} else if (!V1_ONLY) {
  Deno.test({
    name: "v1 killAll() without cgroup2: freeze, kill each, thaw [skipped: no v1 freezer here]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest("v1 killAll() without cgroup2: freeze, kill each, thaw", async () => {
    const v1 = new V1Driver({ fs: realCgroupFs, hierarchies: layout!.v1 });
    assert.equal(v1.version, "v1");
    await withCgroup(v1, async (cg) => {
      assert.equal(cg.paths.unified, undefined);
      // Forks all the time: the freezer keeps new ones from slipping past the kills.
      const p = startIn(cg, "echo go; while :; do sleep 1 & sleep 0.005; done");
      await p.go();
      await until("forks", () => cg.pids().length > 10);
      await cg.killAll();
      assert.deepEqual(cg.pids(), []);
      assert.equal((await p.child.status).signal, "SIGKILL");
      await p.done;
      assert.equal(realCgroupFs.read(`${cg.dir("freezer")}/freezer.state`).trim(), "THAWED");
    });
  });
}

const HYBRID_V2 = layout?.version === "hybrid" && layout.unified;
if (!IS_ROOT) {
  rootTest("v2 driver on this host's cgroup2 mount: freeze, cgroup.kill, destroy", () => {});
} else if (!HYBRID_V2) {
  Deno.test({
    name:
      "v2 driver on this host's cgroup2 mount: freeze, cgroup.kill, destroy [skipped: not a hybrid host; the tests above ran the v2 driver]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest("v2 driver on this host's cgroup2 mount: freeze, cgroup.kill, destroy", async () => {
    const v2 = new V2Driver({ fs: realCgroupFs, unified: layout!.unified! });
    await withCgroup(v2, async (cg) => {
      assert.equal(cg.path, `${layout!.unified!.own.replace(/\/$/, "")}/ctr/${cg.id}`);
      const p = startIn(cg, "i=0; while :; do i=$((i+1)); echo $i; sleep 0.02; done");
      await p.go();
      await until("output", () => p.out.text.length > 0);
      await cg.freeze();
      assert.match(realCgroupFs.read(`${cg.path}/cgroup.events`), /frozen 1/);
      await cg.thaw();
      assert.match(realCgroupFs.read(`${cg.path}/cgroup.events`), /frozen 0/);
      assert.ok(cg.stats().cpu!.usageNs > 0);
      if (!cg.controllers.includes("memory")) {
        assert.throws(() => cg.apply({ memory: 64 * MiB }), /memory controller is not enabled/);
      }
      await cg.killAll();
      assert.match(realCgroupFs.read(`${cg.path}/cgroup.events`), /populated 0/);
      assert.equal((await p.child.status).signal, "SIGKILL");
      await p.done;
    });
  });
}

const UNIFIED = layout?.unified;
if (!IS_ROOT) {
  rootTest("spawn() starts a child in its cgroup2 directory: clone3(CLONE_INTO_CGROUP)", () => {});
} else if (!UNIFIED) {
  Deno.test({
    name:
      "spawn() starts a child in its cgroup2 directory: clone3(CLONE_INTO_CGROUP) [skipped: no cgroup2 hierarchy here]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest(
    "spawn() starts a child in its cgroup2 directory: clone3(CLONE_INTO_CGROUP)",
    async () => {
      const v2 = driver?.version === "v2"
        ? driver
        : new V2Driver({ fs: realCgroupFs, unified: UNIFIED });
      await withCgroup(v2, async (cg) => {
        const rel = `0::${cg.path.slice(UNIFIED.mountpoint.replace(/\/$/, "").length)}`;
        const into = cloneInto(cg)!;
        assert.ok(into, "a v2 cgroup offers a clone target");
        try {
          const r = await catCgroupIn(into);
          assert.equal(r.code, 0);
          assert.equal(r.moved, 0, "clone3 put it there: no move (Linux 5.7 or later)");
          // Phase 0: the child has not run a single step yet.
          assert.ok(r.atStart.split("\n").includes(rel), r.atStart);
          assert.ok(r.out.split("\n").includes(rel), r.out);
        } finally {
          close(into.fd);
        }
        // Without clone3 (seccomp says ENOSYS, as an old kernel would), the
        // child is moved in at phase 0, still before its first step.
        const enosys = enosysWrapper(435); // clone3, on x86_64 and aarch64
        if (!enosys) return;
        const p = await new Deno.Command(enosys, {
          args: [Deno.execPath(), "run", "-A", "--no-check", CLONE_INTO, cg.path],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const err = new TextDecoder().decode(p.stderr);
        assert.ok(p.success, err);
        const r: Report = JSON.parse(new TextDecoder().decode(p.stdout));
        assert.equal(r.code, 0, err);
        assert.equal(r.moved, 1);
        assert.ok(r.atStart.split("\n").includes(rel), r.atStart);
        assert.ok(r.out.split("\n").includes(rel), r.out);
      });
    },
  );
}

Deno.test({
  name: "setOomScoreAdj() writes /proc/PID/oom_score_adj",
  sanitizeResources: false,
  async fn() {
    const child = new Deno.Command("sleep", { args: ["10"] }).spawn();
    try {
      setOomScoreAdj(child.pid, 500);
      assert.equal(Deno.readTextFileSync(`/proc/${child.pid}/oom_score_adj`).trim(), "500");
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
  },
});
