/**
 * Resource limits through `ctr run` (root), checked from inside the container
 * and from the host: OOM, pids, cpus, cpuset, the cgroup namespace, pause.
 */
import assert from "node:assert/strict";
import { census, ctr, rootTest, startContainer, tempStore, testRootfs } from "../_helpers.ts";

const store = tempStore();
// Background containers (startContainer) record their state in ctr's default state directory.
const stateDir = "/run/ctr";
const v2 = (() => {
  try {
    return Deno.readTextFileSync("/proc/self/cgroup").trim().split("\n").every((l) =>
      l.startsWith("0::")
    );
  } catch {
    return false;
  }
})();
const run = (args: string[]) =>
  ctr(["--root", store, "run", "--rm", "--rootfs", testRootfs(), ...args]);

interface State {
  id: string;
  name: string;
  pid: number;
  cgroupPaths: Record<string, string>;
}
const stateOf = (name: string): State =>
  [...(() => {
    try {
      return Deno.readDirSync(stateDir);
    } catch {
      return [];
    }
  })()].filter((e) => e.name.endsWith(".json"))
    .map((e) => JSON.parse(Deno.readTextFileSync(`${stateDir}/${e.name}`)) as State)
    .find((s) => s.name === name)!;

/** CPU time of a container's cgroup, in ns. */
function cpuNs(s: State): number {
  if (s.cgroupPaths.cpuacct || s.cgroupPaths["cpu,cpuacct"]) {
    const d = s.cgroupPaths.cpuacct ?? s.cgroupPaths["cpu,cpuacct"];
    return Number(Deno.readTextFileSync(`${d}/cpuacct.usage`).trim());
  }
  const stat = Deno.readTextFileSync(`${s.cgroupPaths.unified}/cpu.stat`);
  return Number(stat.match(/^usage_usec (\d+)/m)![1]) * 1000;
}

async function waitState(name: string): Promise<State> {
  for (let i = 0; i < 200; i++) {
    const s = stateOf(name);
    if (s?.pid) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no state for ${name}`);
}

rootTest("cgroups: a process beyond --memory 32m is OOM-killed: exit 137, reported", async () => {
  const r = await run([
    "-m",
    "32m",
    "sh",
    "-c",
    "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived",
  ]);
  assert.equal(r.code, 137, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /survived/);
  assert.match(r.stderr, /was killed by the OOM killer/);
});

rootTest(
  "cgroups: a fork loop under --pids-limit 20 never exceeds 20 and stays killable",
  async () => {
    const file = v2 ? "/sys/fs/cgroup/pids.current" : "/sys/fs/cgroup/pids/pids.current";
    const c = await startContainer(store, [
      "--name",
      "pids-test",
      "--pids-limit",
      "20",
      "sh",
      "-c",
      // A shell that cannot fork gives up: the fork loop runs in a child shell, PID 1 stays.
      `sh -c 'for i in $(seq 60); do sleep 30 & done' 2>/dev/null; max=0; i=0; while [ $i -lt 20 ]; do read n < ${file}; [ $n -gt $max ] && max=$n; i=$((i+1)); done; echo max=$max; sleep 30`,
    ]);
    // The container's own view, then the host's, while the loop holds every pid it could get.
    await new Promise((r) => setTimeout(r, 500));
    const s = stateOf("pids-test");
    const dir = s.cgroupPaths.pids ?? s.cgroupPaths.unified;
    const current = Number(Deno.readTextFileSync(`${dir}/pids.current`).trim());
    assert.ok(current <= 20 && current >= 15, `pids.current = ${current}`);
    assert.equal(await c.stop(), 137, "SIGKILL of PID 1 ends the container");
  },
);

rootTest(
  "cgroups: --cpus 0.5 gives half a core to a busy loop (against the same loop unlimited)",
  async () => {
    const busy = ["sh", "-c", "while :; do :; done"];
    const measure = async (extra: string[], name: string) => {
      const c = await startContainer(store, ["--name", name, ...extra, ...busy]);
      const s = await waitState(name);
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now(), u0 = cpuNs(s);
      await new Promise((r) => setTimeout(r, 2000));
      const used = (cpuNs(s) - u0) / ((performance.now() - t0) * 1e6);
      await c.stop();
      return used;
    };
    const limited = await measure(["--cpus", "0.5"], "cpu-limited");
    const free = await measure([], "cpu-free");
    const ratio = limited / free;
    assert.ok(
      Math.abs(ratio - 0.5) <= 0.1,
      `limited ${limited.toFixed(3)} / unlimited ${free.toFixed(3)} = ${ratio.toFixed(3)}`,
    );
  },
);

rootTest("cgroups: --cpuset-cpus 0 pins the container to cpu 0", async () => {
  const r = await run(["--cpuset-cpus", "0", "grep", "Cpus_allowed_list", "/proc/self/status"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Cpus_allowed_list:\s+0$/m);
});

rootTest(
  "cgroups: inside, /proc/self/cgroup is the namespace's root and /sys/fs/cgroup is read-only",
  async () => {
    // v1: /sys/fs/cgroup is a tmpfs holding one mount per hierarchy; v2: one mount.
    const file = v2 ? "/sys/fs/cgroup/cgroup.freeze" : "/sys/fs/cgroup/pids/x";
    const r = await run([
      "sh",
      "-c",
      `cat /proc/self/cgroup; mkdir /sys/fs/cgroup/x 2>&1; { echo 1 >${file}; } 2>&1; true`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    const cg = lines.filter((l) => /^\d+:/.test(l));
    if (v2) assert.deepEqual(cg, ["0::/"]);
    else for (const l of cg) assert.match(l, /:\/$/, `every hierarchy at its root: ${l}`);
    // Both refusals (busybox may end mkdir's message without a newline).
    const rest = lines.filter((l) => !/^\d+:/.test(l)).join("\n");
    assert.equal(rest.match(/Read-only file system/g)?.length, 2, rest);
  },
);

rootTest("cgroups: pause stops a counter, unpause resumes it", async () => {
  const name = "pause-test";
  const c = await startContainer(store, [
    "--name",
    name,
    "sh",
    "-c",
    "i=0; while :; do i=$((i+1)); echo $i > /dev/shm/n; done",
  ]);
  // The file is rewritten all the time: a sample may be empty (frozen between
  // truncate and write, it stays so), and is compared as text. It is on the
  // container's /dev/shm (tmpfs): on ext4 a truncated file's rewrite waits for
  // writeback between the truncate and the write, and a busy host then reads it
  // empty every time.
  const read = () => Deno.readTextFileSync(`/proc/${c.pid}/root/dev/shm/n`).trim();
  try {
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await ctr(["pause", name])).code, 0);
    const a = read();
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(read(), a, "frozen");
    const ps = await ctr(["ps"]);
    assert.match(ps.stdout, new RegExp(`Up .*\\(Paused\\)\\s+${name}`));
    assert.equal((await ctr(["unpause", name])).code, 0);
    let moved = false;
    for (let i = 0; i < 40 && !moved; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const b = read();
      moved = b !== "" && b !== a;
    }
    assert.ok(moved, "running again");
    const stats = await ctr(["stats", "--no-stream", name]);
    assert.match(stats.stdout, new RegExp(`^[0-9a-f]{12}\\s+${name}\\s+\\d+\\.\\d+%`, "m"));
  } finally {
    // A frozen container cannot die: thaw it first, whatever failed above.
    await ctr(["unpause", name]);
    assert.equal(await c.stop(), 137);
  }
});

rootTest("cgroups: bad limits are clear errors and leave nothing", async () => {
  const before = census(store);
  for (
    const [args, re] of [
      [["--memory", "10x"], /--memory 10x: expected a size like 512m or 1g/],
      [["--cpus", "-1"], /--cpus/],
      [["--cpuset-cpus", "a-b"], /--cpuset-cpus/],
      [["--pids-limit", "x"], /--pids-limit/],
    ] as [string[], RegExp][]
  ) {
    const r = await run([...args, "true"]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, re);
  }
  assert.deepEqual(census(store), before);
});
