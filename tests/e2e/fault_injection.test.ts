/**
 * Fault injection (root): ctr killed with SIGKILL at the worst moments leaves
 * nothing that `ctr rm -f` (for OCI: `ctr oci delete --force`) and
 * `ctr system prune -f` do not remove.
 *
 * Four commands are tried: `run --rm --net -p -m 64m` in the foreground,
 * `run -d --net -p -m 64m`, `exec` into a running container, and OCI
 * `create` of a bundle. ctr is killed
 *
 * (a) at each milestone it passes (the trace() calls listed in MILESTONES),
 *     with CTR_FAULT=<milestone>, which makes ctr SIGKILL itself there; and
 * (b) with SIGKILL after a random delay, drawn from a seeded generator whose
 *     seed is printed (CTR_FAULT_SEED=N repeats a run); CTR_FAULT_KILLS=N sets
 *     the number of kills in all, milestones included (200 by default).
 *
 * One kill at a time. After each, the test cleans up as a user would (`rm -f
 * NAME`, `oci delete --force ID`; nothing for exec, whose command must die
 * with it) and counts what is left of that container with census(): state
 * records, container directories, cgroup directories in every hierarchy,
 * veths, leases, nft/iptables rules, OCI state directories and processes.
 * Nothing may be left then, not even the temporary file of a writer killed
 * between write and rename (of the container's record or of its network's
 * leases: the writer's pid in its name says it is dead); and nothing at all
 * after `system prune -f`. Objects are counted by the ids of this test's
 * containers and the marks in its processes' command lines, so other users of
 * the machine do not disturb the counts; for that reason the shared `ctr/`
 * cgroup level and the default bridge are not counted.
 *
 * `ctr build` joins this test when it exists: a scenario with its milestones
 * and its cleanup, like those below.
 *
 *     deno run -A scripts/build.ts
 *     CTR_BIN=$PWD/ctr CTR_TEST_ROOTFS=/var/lib/ctr-test/busybox \
 *       deno test -A tests/e2e/fault_injection.test.ts
 */
import assert from "node:assert/strict";
import {
  census,
  ctr,
  ctrCommand,
  type Leftovers,
  leftovers,
  rootTest,
  type Scope,
  tempDir,
  tempStore,
  testRootfs,
} from "../_helpers.ts";

/** Where each command passes, in order: the trace() calls of its path. */
const MILESTONES = {
  run: [
    "main",
    "run: modules loaded",
    "run: config",
    "state: reserved",
    "directory: made",
    "plan: start",
    "plan: built",
    "cgroup: made",
    "container directory and cgroup ready",
    "spawn: encoded",
    "spawn: cloned",
    "network: lease",
    "network: veth",
    "network: rules",
    "network: attached",
    "exec'd",
    "state: running",
    "exited",
    "network: released",
    "cgroup: removed",
    "directory: removed",
    "cleaned up",
  ],
  // Those of the process that sets the container up; its watcher is forked with the container.
  detached: [
    "main",
    "state: reserved",
    "directory: made",
    "cgroup: made",
    "spawn: cloned",
    "network: lease",
    "network: veth",
    "network: rules",
    "exec'd",
    "state: running",
  ],
  exec: ["main", "spawn: encoded", "spawn: cloned", "exec: started"],
  oci: [
    "main",
    "oci: recorded",
    "oci: cgroup",
    "spawn: encoded",
    "spawn: cloned",
    "oci: spawned",
    "oci: created",
  ],
} as const;

const SEED = Number(Deno.env.get("CTR_FAULT_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const KILLS = Number(Deno.env.get("CTR_FAULT_KILLS") ?? 200);

/** mulberry32: a small seeded generator, so that a failing run can be repeated. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (bytes: number) =>
  [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0"))
    .join("");

/** Processes whose command line holds `mark`. */
function marked(mark: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${e.name}/cmdline`).includes(mark)) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}

/** The children of a process (its pre-exec clones share its command line, not always its mark). */
function children(pid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) {
        out.push(Number(e.name));
      }
    } catch { /* gone */ }
  }
  return out;
}

function kill(pids: Iterable<number>): void {
  for (const p of pids) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch { /* gone */ }
  }
}

/** What one scenario needs: how to start its command, kill it and clean up after it. */
interface Scenario {
  readonly name: keyof typeof MILESTONES;
  /** The command, started with `env` (CTR_FAULT when a milestone is tried). */
  start(n: number, env: Record<string, string>): Deno.ChildProcess;
  /** A random kill: ctr's processes of this scenario (never the containers themselves). */
  kill(proc: Deno.ChildProcess): void;
  /** What a user does after the crash. */
  cleanup(n: number): Promise<void>;
  /** The marks in the command lines of this scenario's processes. */
  readonly marks: readonly string[];
  /** The upper bound of a random delay, in ms (measured on this machine). */
  delayMs: number;
}

interface Outcome {
  readonly scenario: string;
  readonly how: string;
  readonly afterCleanup: Partial<Leftovers>;
  readonly afterPrune?: Partial<Leftovers>;
  /** The command lines of the processes left, if any. */
  readonly processes?: string[];
  /** The files left in the state directory, if any. */
  readonly files?: string[];
}

function nonZero(l: Leftovers): Partial<Leftovers> {
  return Object.fromEntries(Object.entries(l).filter(([, v]) => v !== 0)) as Partial<Leftovers>;
}

rootTest(
  "fault injection: ctr killed at every milestone and at random leaves nothing after rm -f and prune",
  async () => {
    const t0 = performance.now();
    console.log(
      `fault injection: seed ${SEED} (CTR_FAULT_SEED=${SEED} repeats this run), ${KILLS} kills`,
    );
    const random = generator(SEED);
    const store = tempStore();
    const stateDir = tempDir();
    const ociRoot = tempDir();
    const mark = String(100000 + Math.floor(Math.random() * 900000));
    const marks = {
      run: `0.4${mark}`, // a foreground container lives 0.4 s: its teardown is tried too
      detached: `7${mark}`,
      exec: `8${mark}`,
      oci: `9${mark}`,
    };
    const hadBridge = [...Deno.readDirSync("/sys/class/net")].some((e) => e.name === "ctr0");
    const ids = new Set<string>();
    const [bin, ...pre] = ctrCommand();
    const g = ["--root", store, "--state-dir", stateDir];
    const spawnCtr = (args: string[], env: Record<string, string>) =>
      new Deno.Command(bin, {
        args: [...pre, ...args],
        env,
        stdin: "null",
        // A container inherits ctr's stdio: never a pipe the test would wait on.
        stdout: "null",
        stderr: "null",
      }).spawn();
    const c = (args: string[]) => ctr([...g, ...args]);
    const port = () => String(20000 + Math.floor(random() * 20000));
    /** The `ctr run` of both run scenarios: a network, a published port, a memory limit. */
    const runArgs = (mode: string[], name: string, sleepFor: string) => [
      ...g,
      "run",
      ...mode,
      "--net",
      "-p",
      `${port()}:80`,
      "-m",
      "64m",
      "--name",
      name,
      "--rootfs",
      testRootfs(),
      "sleep",
      sleepFor,
    ];
    const collectIds = () => {
      for (const e of Deno.readDirSync(stateDir)) {
        const m = /^([0-9a-f]{64})\./.exec(e.name);
        if (m) ids.add(m[1]);
      }
    };

    // The OCI bundle: the test rootfs and ctr's default config, running a marked sleep.
    const bundle = tempDir();
    assert.ok(
      (await new Deno.Command("cp", { args: ["-a", testRootfs(), `${bundle}/rootfs`] }).output())
        .success,
    );
    assert.equal((await ctr(["oci", "spec", "--bundle", bundle])).code, 0);
    const spec = JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`));
    spec.process.terminal = false;
    spec.process.args = ["sleep", marks.oci];
    spec.root.readonly = false;
    Deno.writeTextFileSync(`${bundle}/config.json`, JSON.stringify(spec));
    const ociIds: string[] = [];

    const execBox = `fault-exec-${mark}`;
    const scenarios: Scenario[] = [
      {
        name: "run",
        marks: [store, marks.run],
        delayMs: 0,
        start: (n, env) => spawnCtr(runArgs(["--rm"], `f${n}`, marks.run), env),
        kill: (proc) => kill([proc.pid, ...children(proc.pid)]),
        cleanup: async (n) => void await c(["rm", "-f", `f${n}`]),
      },
      {
        name: "detached",
        marks: [store, marks.detached],
        delayMs: 0,
        start: (n, env) => spawnCtr(runArgs(["-d"], `d${n}`, marks.detached), env),
        // The command, the process that sets the container up, and the watcher it becomes:
        // the command first, so that it cannot start the setup process after the look.
        kill: (proc) => {
          kill([proc.pid]);
          // A process in the middle of an exec may not show its command line: look again.
          for (let i = 0; i < 3; i++) kill(marked(store));
        },
        cleanup: async (n) => void await c(["rm", "-f", `d${n}`]),
      },
      {
        name: "exec",
        marks: [marks.exec],
        delayMs: 0,
        start: (_, env) => spawnCtr([...g, "exec", execBox, "sleep", marks.exec], env),
        kill: (proc) => kill([proc.pid, ...children(proc.pid)]),
        // Nothing to do: the command dies with its ctr exec.
        cleanup: async () => {
          for (let i = 0; i < 100 && marked(marks.exec).length > 0; i++) await sleep(20);
        },
      },
      {
        name: "oci",
        marks: [ociRoot, marks.oci],
        delayMs: 0,
        start: (n, env) => {
          ociIds[n] = hex(32);
          ids.add(ociIds[n]);
          return spawnCtr(["oci", "--root", ociRoot, "create", "--bundle", bundle, ociIds[n]], env);
        },
        kill: (proc) => kill([proc.pid, ...children(proc.pid)]),
        cleanup: async (n) =>
          void await ctr(["oci", "--root", ociRoot, "delete", "--force", ociIds[n]]),
      },
    ];

    const scopeOf = (s: Scenario): Scope => ({ stateDir, ids, ociRoot, markers: s.marks });
    /** What was there before the scenario's kills and is meant to stay (the container exec joins). */
    let base: Leftovers | undefined;
    /** What earlier kills left even after a prune: each kill's outcome counts only its own. */
    const carried: Partial<Leftovers> = {};
    const left = (s: Scenario): Leftovers => {
      const all = census(store, scopeOf(s));
      const b = (k: keyof Leftovers) => all[k] - (base?.[k] ?? 0) - (carried[k] ?? 0);
      return {
        stateRecords: b("stateRecords"),
        containerDirs: b("containerDirs"),
        cgroupDirs: b("cgroupDirs"),
        veths: b("veths"),
        leases: b("leases"),
        rules: b("rules"),
        ociStateDirs: b("ociStateDirs"),
        processes: b("processes"),
      };
    };
    const total = (l: Leftovers) => Object.values(l).reduce((a, b) => a + b, 0);

    const outcomes: Outcome[] = [];
    let n = 0;
    /**
     * One start, one kill (after `delay` ms; without one, ctr is expected to
     * die or end by itself), the cleanup and the counts. Returns ctr's exit
     * code (-1: it had to be killed) and how long it ran.
     */
    const attempt = async (
      s: Scenario,
      how: string,
      env: Record<string, string>,
      delay?: number,
    ) => {
      n++;
      const t = performance.now();
      const proc = s.start(n, env);
      const done = proc.status.then((st) => st.code);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const limit = new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), delay ?? 30_000);
      });
      const raced = await Promise.race([done, limit]);
      clearTimeout(timer);
      if (raced === undefined) s.kill(proc);
      let code = await done;
      const ms = performance.now() - t;
      if (raced === undefined && delay === undefined) code = -1;
      collectIds();
      await s.cleanup(n);
      let after = left(s);
      // What goes by itself a moment later (a process that was finishing its part as the
      // cleanup returned) is not left behind: only what stays counts.
      for (let i = 0; i < 10 && total(after) !== 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = left(s);
      }
      const leftProcesses = s.marks.flatMap(marked).map((p) => {
        try {
          return `${p}: ${Deno.readTextFileSync(`/proc/${p}/cmdline`).replaceAll("\0", " ")}`;
        } catch {
          return `${p}: gone`;
        }
      });
      // The state directory as the cleanup left it (the prune below changes it).
      const files = after.stateRecords > 0 || after.leases > 0
        ? [stateDir, `${stateDir}/networks`].flatMap((d) =>
          [...Deno.readDirSync(d)].map((e) => e.name).filter((n) => !n.endsWith(".lock"))
        )
        : undefined;
      let afterPrune: Leftovers | undefined;
      if (total(after) !== 0) {
        await c(["system", "prune", "-f"]);
        afterPrune = left(s);
        for (const [k, v] of Object.entries(afterPrune) as [keyof Leftovers, number][]) {
          carried[k] = (carried[k] ?? 0) + v;
        }
      }
      if (total(after) !== 0 || (afterPrune && total(afterPrune) !== 0)) {
        outcomes.push({
          scenario: s.name,
          how,
          afterCleanup: nonZero(after),
          afterPrune: afterPrune && nonZero(afterPrune),
          processes: leftProcesses.length ? leftProcesses : undefined,
          files,
        });
      }
      return { code, ms };
    };

    /** How long the command takes here, unharmed (it must leave nothing either): the delays' range. */
    const calibrate = async (s: Scenario) => {
      if (s.name !== "exec") return (await attempt(s, "unharmed", {})).ms * 1.2;
      const t = performance.now();
      const r = await c(["exec", execBox, "true"]);
      assert.equal(r.code, 0, r.stderr);
      return (performance.now() - t) * 1.5;
    };

    try {
      const milestoneKills = Object.values(MILESTONES).reduce((a, m) => a + m.length, 0);
      const randomKills = Math.max(0, KILLS - milestoneKills);
      const share: Record<string, number> = { run: 0.35, detached: 0.3, exec: 0.15, oci: 0.2 };
      const notReached: string[] = [];
      const only = Deno.env.get("CTR_FAULT_ONLY"); // one scenario, to look into a failure
      for (const s of scenarios.filter((s) => !only || s.name === only)) {
        if (s.name === "exec") {
          // The container that exec joins (its watcher holds the store's path: no other
          // scenario runs meanwhile).
          const box = await c([
            "run",
            "-d",
            "--name",
            execBox,
            "--rootfs",
            testRootfs(),
            "sleep",
            `6${mark}`,
          ]);
          assert.equal(box.code, 0, box.stderr);
          collectIds();
          base = left(s);
        }
        s.delayMs = await calibrate(s);
        for (const m of MILESTONES[s.name]) {
          const { code } = await attempt(s, `CTR_FAULT=${m}`, { CTR_FAULT: m });
          if (code !== 137) notReached.push(`${s.name}: ${m} (exit ${code})`);
        }
        const count = Math.round(randomKills * share[s.name]);
        for (let i = 0; i < count; i++) {
          const delay = Math.floor(random() * s.delayMs);
          await attempt(s, `SIGKILL after ${delay} ms`, {}, delay);
        }
        console.log(
          `  ${s.name}: ${MILESTONES[s.name].length} milestones, ${count} random kills (0-${
            Math.round(s.delayMs)
          } ms)`,
        );
        if (s.name === "exec") {
          const rm = await c(["rm", "-f", execBox]);
          assert.equal(rm.code, 0, rm.stderr);
          base = undefined;
          for (const k of Object.keys(carried) as (keyof Leftovers)[]) delete carried[k];
        }
      }
      const prune = await c(["system", "prune", "-f"]);
      assert.equal(prune.code, 0, prune.stderr);
      for (const id of ociIds.filter(Boolean)) {
        await ctr(["oci", "--root", ociRoot, "delete", "--force", id]);
      }

      const everything: Scope = {
        stateDir,
        ids,
        ociRoot,
        markers: [store, ociRoot, ...Object.values(marks), `6${mark}`],
      };
      const final = leftovers(store, everything);
      console.log(
        `  ${n} starts, ${ids.size} containers, ${
          ((performance.now() - t0) / 1000).toFixed(1)
        } s; left after cleanup: ${outcomes.length}`,
      );
      for (const o of outcomes) console.log(`  ${o.scenario} ${o.how}: ${JSON.stringify(o)}`);
      assert.deepEqual(notReached, [], "every milestone listed is one the command passes");
      assert.deepEqual(
        outcomes.filter((o) => o.afterPrune && Object.keys(o.afterPrune).length > 0),
        [],
        `nothing is left after system prune (seed ${SEED})`,
      );
      assert.deepEqual(
        outcomes,
        [],
        `nothing is left after rm -f / oci delete --force (seed ${SEED})`,
      );
      assert.equal(total(final), 0, JSON.stringify(final));
    } finally {
      await c(["rm", "-f", execBox]);
      for (const r of (await c(["ps", "-aq"])).stdout.split("\n").filter(Boolean)) {
        await c(["rm", "-f", r]);
      }
      for (const id of ociIds.filter(Boolean)) {
        await ctr(["oci", "--root", ociRoot, "delete", "--force", id]);
      }
      const bridgePorts = (() => {
        try {
          return [...Deno.readDirSync("/sys/class/net/ctr0/brif")].length;
        } catch {
          return -1;
        }
      })();
      if (!hadBridge && bridgePorts === 0) {
        await new Deno.Command("ip", { args: ["link", "del", "ctr0"], stderr: "null" }).output();
      }
    }
  },
);
