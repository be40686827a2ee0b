/**
 * Cgroup tests that need no root: limit flags and conversions, detection from
 * mountinfo texts, and both drivers against a temporary directory that looks
 * like cgroupfs (which files get which values, in which order).
 */
import assert from "node:assert/strict";
import {
  type Cgroup,
  CgroupError,
  type CgroupFs,
  cgroupLayout,
  DEFAULT_DEVICE_RULES,
  DEFAULT_DEVICES,
  devNumbers,
  formatDeviceRule,
  type Limits,
  limitsFromFlags,
  neededControllers,
  openCgroupDriver,
  parseCpus,
  parseCpuset,
  parseMountinfo,
  parsePidsLimit,
  parseSize,
  realCgroupFs,
  setOomScoreAdj,
  sharesToWeight,
  type StatDevice,
  V1Driver,
  V2Driver,
  weightToShares,
} from "../../lib/cgroups/mod.ts";
import { tempDir } from "../_helpers.ts";

const MiB = 1024 * 1024;

/** makedev() as glibc encodes it. */
function makedev(major: number, minor: number): number {
  const M = BigInt(major), m = BigInt(minor);
  return Number(
    ((M & 0xfffn) << 8n) | ((M & ~0xfffn) << 32n) | (m & 0xffn) | ((m & ~0xffn) << 12n),
  );
}

const fakeStat: StatDevice = (p) => {
  if (p === "/dev/sda") return { isBlockDevice: true, rdev: makedev(8, 0) };
  if (p === "/dev/nvme0n1p1") return { isBlockDevice: true, rdev: makedev(259, 1) };
  if (p === "/dev/null") return { isBlockDevice: false, rdev: makedev(1, 3) };
  throw new Error("No such file or directory (os error 2)");
};

// ---------------------------------------------------------------- limits

Deno.test("parseSize() takes docker's sizes", () => {
  assert.equal(parseSize("--memory", "512m"), 512 * MiB);
  assert.equal(parseSize("--memory", "1g"), 1024 * MiB);
  assert.equal(parseSize("--memory", "1024k"), MiB);
  assert.equal(parseSize("--memory", "100"), 100);
  assert.equal(parseSize("--memory", "100b"), 100);
  assert.equal(parseSize("--memory", "1.5g"), 1536 * MiB);
  assert.equal(parseSize("--memory", "512MB"), 512 * MiB);
  assert.equal(parseSize("--memory", "1GiB"), 1024 * MiB);
  assert.equal(parseSize("--memory", "2 t"), 2 * 1024 ** 4);
});

Deno.test("parseSize() names the flag and the value", () => {
  for (const bad of ["10x", "", "m", "-1", "1.2.3g", "1e6", "0x10"]) {
    assert.throws(() => parseSize("--memory", bad), {
      message: `--memory ${bad}: expected a size like 512m or 1g`,
    });
  }
  assert.throws(() => limitsFromFlags({ memory: "10x" }), {
    message: "--memory 10x: expected a size like 512m or 1g",
  });
  assert.throws(() => limitsFromFlags({ memory: "64m", "memory-reservation": "lots" }), {
    message: "--memory-reservation lots: expected a size like 512m or 1g",
  });
});

Deno.test("limitsFromFlags() cross-checks memory, swap and reservation", () => {
  const l = limitsFromFlags({ memory: "64m", "memory-swap": "128m", "memory-reservation": "32m" });
  assert.equal(l.memory, 64 * MiB);
  assert.equal(l.memorySwap, 128 * MiB);
  assert.equal(l.memoryReservation, 32 * MiB);
  assert.equal(limitsFromFlags({ memory: "64m", "memory-swap": "-1" }).memorySwap, -1);
  assert.equal(limitsFromFlags({ memory: "64m", "memory-swap": "0" }).memorySwap, undefined);
  assert.equal(limitsFromFlags({ memory: "64m" }).memorySwap, undefined);
  assert.throws(() => limitsFromFlags({ "memory-swap": "1g" }), /--memory-swap 1g: needs --memory/);
  assert.throws(
    () => limitsFromFlags({ memory: "1g", "memory-swap": "512m" }),
    /--memory-swap 512m: must be at least --memory \(1g\)/,
  );
  assert.throws(
    () => limitsFromFlags({ memory: "64m", "memory-reservation": "1g" }),
    /--memory-reservation 1g: must not exceed --memory \(64m\)/,
  );
  assert.throws(() => limitsFromFlags({ memory: "4m" }), /--memory 4m: the smallest .* is 6m/);
});

Deno.test("--cpus becomes a CFS quota over a 100000 µs period", () => {
  assert.deepEqual(parseCpus("1.5"), { quota: 150000, period: 100000 });
  assert.deepEqual(parseCpus("0.5"), { quota: 50000, period: 100000 });
  assert.deepEqual(parseCpus("2"), { quota: 200000, period: 100000 });
  assert.deepEqual(parseCpus(".25"), { quota: 25000, period: 100000 });
  assert.deepEqual(parseCpus("0.01"), { quota: 1000, period: 100000 });
  for (const bad of ["0", "-1", "abc", "", "1,5", "Infinity", "NaN"]) {
    assert.throws(() => parseCpus(bad), { message: new RegExp(`^--cpus ${bad}: expected`) });
  }
  assert.throws(() => parseCpus("0.001"), /--cpus 0.001: expected at least 0.01/);
  const l = limitsFromFlags({ cpus: "1.5" });
  assert.equal(l.cpuQuota, 150000);
  assert.equal(l.cpuPeriod, 100000);
});

Deno.test("cpu.shares ↔ cpu.weight as runc and crun convert them", () => {
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(1024), 39);
  assert.equal(sharesToWeight(512), 20);
  assert.equal(sharesToWeight(262144), 10000);
  assert.equal(sharesToWeight(0), 0);
  assert.equal(weightToShares(1), 2);
  assert.equal(weightToShares(100), 2597);
  assert.equal(weightToShares(10000), 262144);
  assert.equal(limitsFromFlags({ "cpu-shares": "512" }).cpuShares, 512);
  assert.equal(limitsFromFlags({ "cpu-shares": "0" }).cpuShares, undefined);
  assert.equal(limitsFromFlags({ "cpu-weight": "100" }).cpuWeight, 100);
  assert.throws(() => limitsFromFlags({ "cpu-shares": "1" }), /--cpu-shares 1: expected/);
  assert.throws(() => limitsFromFlags({ "cpu-shares": "262145" }), /--cpu-shares 262145/);
  assert.throws(() => limitsFromFlags({ "cpu-weight": "0" }), /--cpu-weight 0: expected/);
  assert.throws(() => limitsFromFlags({ "cpu-weight": "10001" }), /--cpu-weight 10001/);
  assert.throws(
    () => limitsFromFlags({ "cpu-shares": "512", "cpu-weight": "100" }),
    /give one of them/,
  );
});

Deno.test("cpuset lists are checked", () => {
  assert.equal(parseCpuset("--cpuset-cpus", "0-2,4"), "0-2,4");
  assert.equal(parseCpuset("--cpuset-cpus", " 0-2, 4 "), "0-2,4");
  assert.equal(parseCpuset("--cpuset-mems", "0"), "0");
  assert.equal(parseCpuset("--cpuset-cpus", "1-1"), "1-1");
  for (const bad of ["", "a", "1,,2", "1-", "-1", "0-2;4", "1-2-3"]) {
    assert.throws(() => parseCpuset("--cpuset-cpus", bad), {
      message: `--cpuset-cpus ${bad}: expected a list like 0-2,4`,
    });
  }
  assert.throws(
    () => parseCpuset("--cpuset-cpus", "3-1"),
    /3-1: expected .*\(3-1 goes backwards\)/,
  );
  assert.equal(limitsFromFlags({ "cpuset-cpus": "0,1", "cpuset-mems": "0" }).cpusetMems, "0");
});

Deno.test("--pids-limit: -1 and 0 mean no limit", () => {
  assert.equal(parsePidsLimit("-1"), null);
  assert.equal(parsePidsLimit("0"), null);
  assert.equal(parsePidsLimit("5"), 5);
  for (const bad of ["-2", "x", "1.5", ""]) {
    assert.throws(() => parsePidsLimit(bad), {
      message: `--pids-limit ${bad}: expected a whole number (-1 or 0 for no limit)`,
    });
  }
});

Deno.test("--device-read-bps and --device-write-bps find major:minor by stat", () => {
  const l = limitsFromFlags({
    "device-read-bps": ["/dev/sda:1mb", "/dev/nvme0n1p1:10k"],
    "device-write-bps": "/dev/sda:2mb",
  }, { statDevice: fakeStat });
  assert.deepEqual(l.deviceReadBps, [
    { path: "/dev/sda", major: 8, minor: 0, rate: MiB },
    { path: "/dev/nvme0n1p1", major: 259, minor: 1, rate: 10 * 1024 },
  ]);
  assert.deepEqual(l.deviceWriteBps, [{ path: "/dev/sda", major: 8, minor: 0, rate: 2 * MiB }]);
  const bad = (v: string) => limitsFromFlags({ "device-read-bps": v }, { statDevice: fakeStat });
  for (const v of ["sda:1mb", "/dev/sda", "/dev/sda:", "/dev/sda:1x", ":1mb"]) {
    assert.throws(() => bad(v), {
      message: `--device-read-bps ${v}: expected a device and a rate like /dev/sda:1mb`,
    });
  }
  assert.throws(() => bad("/dev/null:1mb"), /\/dev\/null:1mb: \/dev\/null is not a block device/);
  assert.throws(
    () => bad("/dev/sdz:1mb"),
    /--device-read-bps \/dev\/sdz:1mb: cannot stat \/dev\/sdz/,
  );
});

Deno.test("devNumbers() decodes glibc's dev_t", () => {
  assert.deepEqual(devNumbers(makedev(8, 0)), { major: 8, minor: 0 });
  assert.deepEqual(devNumbers(makedev(259, 1)), { major: 259, minor: 1 });
  assert.deepEqual(devNumbers(makedev(4096, 256)), { major: 4096, minor: 256 });
  assert.deepEqual(devNumbers(makedev(0xfffff, 0xfffff)), { major: 0xfffff, minor: 0xfffff });
});

Deno.test("--oom-score-adj is -1000..1000 and written to /proc/PID", () => {
  assert.equal(limitsFromFlags({ "oom-score-adj": "-1000" }).oomScoreAdj, -1000);
  assert.equal(limitsFromFlags({ "oom-score-adj": "500" }).oomScoreAdj, 500);
  assert.throws(
    () => limitsFromFlags({ "oom-score-adj": "1001" }),
    /--oom-score-adj 1001: expected/,
  );
  assert.throws(() => limitsFromFlags({ "oom-score-adj": "x" }), /--oom-score-adj x: expected/);
  const writes: string[] = [];
  const fs = { write: (p: string, v: string) => writes.push(`${p} ${v}`) } as unknown as CgroupFs;
  setOomScoreAdj(123, -500, fs);
  assert.deepEqual(writes, ["/proc/123/oom_score_adj -500"]);
  assert.throws(() => setOomScoreAdj(123, 2000, fs), RangeError);
});

Deno.test("limitsFromFlags() always carries a device policy", () => {
  assert.deepEqual(limitsFromFlags({}), { devices: DEFAULT_DEVICES });
  assert.deepEqual(limitsFromFlags({}, { privileged: true }).devices, { allowAll: true });
  assert.deepEqual(DEFAULT_DEVICE_RULES.map(formatDeviceRule), [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
  ]);
  assert.deepEqual(
    neededControllers(limitsFromFlags({ memory: "64m", cpus: "1", "pids-limit": "3" })),
    ["cpu", "memory", "pids"],
  );
});

// ---------------------------------------------------------------- detection

/** This host: every controller on v1, cgroup2 without controllers at /sys/fs/cgroup/unified. */
const HYBRID_MOUNTINFO = `22 1 0:21 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_CGROUP = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/662c2bb96d45c7bb66c04b4272a74ed3
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

Deno.test("cgroupLayout() on a hybrid host: v1 controllers, cgroup2 for membership", () => {
  const l = cgroupLayout(HYBRID_MOUNTINFO, HYBRID_CGROUP);
  assert.equal(l.version, "hybrid");
  assert.deepEqual(l.v1.map((h) => h.name), [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
  ]);
  assert.equal(
    l.v1.find((h) => h.name === "memory")!.own,
    "/sys/fs/cgroup/memory/process_api/662c2bb96d45c7bb66c04b4272a74ed3",
  );
  assert.equal(l.v1.find((h) => h.name === "pids")!.own, "/sys/fs/cgroup/pids");
  assert.deepEqual(l.unified, {
    mountpoint: "/sys/fs/cgroup/unified",
    own: "/sys/fs/cgroup/unified",
  });
});

Deno.test("cgroupLayout() on a pure v2 host (Ubuntu 24.04)", () => {
  const l = cgroupLayout(
    "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
    "0::/user.slice/user-0.slice/session-1.scope\n",
  );
  assert.equal(l.version, "v2");
  assert.deepEqual(l.v1, []);
  assert.equal(l.unified!.own, "/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope");
});

Deno.test("cgroupLayout() on v1 with co-mounted controllers, a bind-mounted root and escapes", () => {
  const l = cgroupLayout(
    [
      "50 40 0:40 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct",
      "51 40 0:41 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory",
      "52 40 0:42 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio",
      "53 40 0:43 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd",
      "54 40 0:44 / /mnt/my\\040pids rw - cgroup cgroup rw,pids",
    ].join("\n"),
    "5:pids:/a\n4:name=systemd:/\n3:net_cls,net_prio:/\n2:memory:/docker/abc/x\n1:cpu,cpuacct:/docker/abc\n",
  );
  assert.equal(l.version, "v1");
  assert.equal(l.unified, undefined);
  assert.deepEqual(l.v1.map((h) => [h.name, h.own]), [
    ["cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct"],
    ["memory", "/sys/fs/cgroup/memory/x"],
    ["pids", "/mnt/my pids/a"],
  ]);
  assert.deepEqual(parseMountinfo("1 2 0:1 / /x rw - ext4 /dev/sda rw\n"), []);
});

Deno.test("cgroupLayout() skips what our namespace cannot see, and says when nothing is left", () => {
  assert.throws(
    () =>
      cgroupLayout(
        "41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        "0::/../../outside\n",
      ),
    (e: Error) =>
      e instanceof CgroupError && /No cgroup filesystem shows our own cgroup/.test(e.message),
  );
});

// ---------------------------------------------------------------- fixtures

const words = (t: string) => t.trim().split(/\s+/).filter(Boolean);
const parentOf = (p: string) => p.slice(0, p.lastIndexOf("/"));
/** The v2 controllers that may be enabled in a cgroup with processes. */
const THREADED = new Set(["cpuset", "cpu", "pids", "perf_event"]);

/** What a new directory holds in one kind of hierarchy. */
type Template = (dir: string, parent: string, fs: FixtureFs) => Record<string, string>;

/**
 * A directory tree that behaves like cgroupfs where it matters: mkdir fills
 * in the control files, writes go to existing files only and are recorded,
 * cgroup.procs appends, cgroup.subtree_control takes +/- under the kernel's
 * rules for a non-root cgroup with processes (threaded controllers accepted,
 * which makes it a thread root; domain controllers EBUSY, or EOPNOTSUPP in a
 * thread root), cgroup.procs below a thread root is EOPNOTSUPP,
 * cgroup.freeze and cgroup.kill update cgroup.events, and rmdir refuses a
 * cgroup with processes or children.
 */
class FixtureFs implements CgroupFs {
  readonly writes: string[] = [];

  /** Records the device filter a v2 cgroup would load. */
  attachDevices(dir: string, rules: readonly unknown[]): void {
    this.writes.push(`${this.rel(dir)}/(device filter) = ${rules.length} rules`);
  }
  /** Also refuse subtree_control at the root (a cgroup namespace's root). */
  namespaceRoot = false;

  constructor(readonly root: string, readonly template: Template, readonly v2Root?: string) {}

  rel(p: string): string {
    return p.slice(this.root.length);
  }

  read(p: string): string {
    return realCgroupFs.read(p);
  }

  exists(p: string): boolean {
    return realCgroupFs.exists(p);
  }

  dirs(p: string): string[] {
    return realCgroupFs.dirs(p);
  }

  #fail(action: string, code: string, text: string, p: string): never {
    this.writes.push(`${action} ! ${code}`);
    throw new CgroupError(`${action}: ${code} (${text})`, code, p);
  }

  write(p: string, value: string): void {
    const dir = p.slice(0, p.lastIndexOf("/"));
    const name = p.slice(p.lastIndexOf("/") + 1);
    const action = `write ${value} to ${this.rel(p)}`;
    if (!this.exists(p)) this.#fail(action, "ENOENT", "No such file or directory", p);
    if (name === "cgroup.subtree_control") {
      const isRoot = dir === this.v2Root && !this.namespaceRoot;
      const enable = words(value).filter((w) => w[0] === "+").map((w) => w.slice(1));
      const domain = enable.some((c) => !THREADED.has(c));
      if (!isRoot && domain && this.#threadRoot(dir)) {
        this.#fail(action, "EOPNOTSUPP", "Operation not supported", p);
      }
      if (!isRoot && domain && this.read(`${dir}/cgroup.procs`).trim() !== "") {
        this.#fail(action, "EBUSY", "Device or resource busy", p);
      }
      const on = new Set(words(this.read(p)));
      for (const w of words(value)) {
        if (w[0] === "+") on.add(w.slice(1));
        else if (w[0] === "-") on.delete(w.slice(1));
      }
      this.writes.push(`${this.rel(p)} = ${value}`);
      Deno.writeTextFileSync(p, [...on].join(" "));
      return;
    }
    if (name === "cgroup.procs") {
      for (let d = dir; d.startsWith(this.root) && d !== this.v2Root; d = parentOf(d)) {
        if (d !== dir && this.#threadRoot(d)) {
          this.#fail(action, "EOPNOTSUPP", "Operation not supported", p);
        }
      }
    }
    this.writes.push(`${this.rel(p)} = ${value}`);
    if (name === "cgroup.procs") {
      Deno.writeTextFileSync(p, `${value}\n`, { append: true });
      this.#events(dir);
    } else if (name === "cgroup.freeze") {
      Deno.writeTextFileSync(p, value);
      this.#events(dir);
    } else if (name === "cgroup.kill") {
      const victims = new Set(this.read(`${dir}/cgroup.procs`).trim().split("\n"));
      this.#walk(this.root, (d) => {
        const procs = `${d}/cgroup.procs`;
        if (!this.exists(procs)) return;
        const left = this.read(procs).split("\n").filter((l) => l && !victims.has(l));
        Deno.writeTextFileSync(procs, left.map((l) => `${l}\n`).join(""));
        this.#events(d);
      });
    } else {
      Deno.writeTextFileSync(p, value);
    }
  }

  /** A non-root cgroup with processes that passes a threaded controller on. */
  #threadRoot(dir: string): boolean {
    if (dir === this.v2Root && !this.namespaceRoot) return false;
    const f = `${dir}/cgroup.subtree_control`;
    if (!this.exists(f) || this.read(`${dir}/cgroup.procs`).trim() === "") return false;
    return words(this.read(f)).some((c) => THREADED.has(c));
  }

  #events(dir: string): void {
    const f = `${dir}/cgroup.events`;
    if (!this.exists(f)) return;
    const populated = this.read(`${dir}/cgroup.procs`).trim() !== "" ? 1 : 0;
    const frozen = this.exists(`${dir}/cgroup.freeze`)
      ? Number(this.read(`${dir}/cgroup.freeze`).trim() || 0)
      : 0;
    Deno.writeTextFileSync(f, `populated ${populated}\nfrozen ${frozen}\n`);
  }

  #walk(d: string, fn: (d: string) => void): void {
    fn(d);
    for (const c of this.dirs(d)) this.#walk(`${d}/${c}`, fn);
  }

  mkdir(p: string): boolean {
    const made = realCgroupFs.mkdir(p);
    if (made) {
      this.writes.push(`mkdir ${this.rel(p)}`);
      const parent = p.slice(0, p.lastIndexOf("/"));
      for (const [f, v] of Object.entries(this.template(p, parent, this))) {
        Deno.writeTextFileSync(`${p}/${f}`, v);
      }
    }
    return made;
  }

  rmdir(p: string): void {
    const action = `rmdir ${this.rel(p)}`;
    if (!this.exists(p)) this.#fail(action, "ENOENT", "No such file or directory", p);
    if (this.dirs(p).length > 0 || this.read(`${p}/cgroup.procs`).trim() !== "") {
      this.#fail(action, "EBUSY", "Device or resource busy", p);
    }
    this.writes.push(action);
    Deno.removeSync(p, { recursive: true }); // the fixture's plain files
  }

  /** Makes a directory with its files, not recorded (the host's existing tree). */
  seed(p: string, files: Record<string, string> = {}): void {
    Deno.mkdirSync(p, { recursive: true });
    const parent = p.slice(0, p.lastIndexOf("/"));
    for (const [f, v] of Object.entries({ ...this.template(p, parent, this), ...files })) {
      Deno.writeTextFileSync(`${p}/${f}`, v);
    }
  }

  /** Sets a file's content, not recorded (the kernel's doing). */
  set(p: string, value: string): void {
    Deno.writeTextFileSync(p, value);
  }

  /** The directories below the root. */
  tree(): string[] {
    const out: string[] = [];
    this.#walk(this.root, (d) => out.push(this.rel(d)));
    return out.filter((d) => d !== "").sort();
  }
}

const UNLIMITED = "9223372036854771712";

/** v1: the files each hierarchy's cgroups have (the hierarchy is the first path component). */
const v1Template = (root: string): Template => (dir) => {
  const hier = dir.slice(root.length + 1).split("/")[0];
  const files: Record<string, string> = { "cgroup.procs": "", "tasks": "" };
  const add = (f: Record<string, string>) => Object.assign(files, f);
  if (hier.includes("cpu") && !hier.includes("cpuset")) {
    add({
      "cpu.shares": "1024",
      "cpu.cfs_period_us": "100000",
      "cpu.cfs_quota_us": "-1",
      "cpuacct.usage": "0",
    });
  }
  if (hier === "cpuset") add({ "cpuset.cpus": "", "cpuset.mems": "" });
  if (hier === "memory") {
    add({
      "memory.limit_in_bytes": UNLIMITED,
      "memory.memsw.limit_in_bytes": UNLIMITED,
      "memory.soft_limit_in_bytes": UNLIMITED,
      "memory.usage_in_bytes": "0",
      "memory.max_usage_in_bytes": "0",
      "memory.failcnt": "0",
      "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
      "memory.swappiness": "60",
    });
  }
  if (hier === "pids") add({ "pids.max": "max", "pids.current": "0" });
  if (hier === "blkio") {
    add({
      "blkio.throttle.read_bps_device": "",
      "blkio.throttle.write_bps_device": "",
      "blkio.throttle.io_service_bytes_recursive": "Total 0\n",
    });
  }
  if (hier === "devices") {
    add({ "devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm" });
  }
  if (hier === "freezer") add({ "freezer.state": "THAWED" });
  if (hier === "unified") Object.assign(files, v2Files(dir, "", ""));
  return files;
};

/** v2: a cgroup's files; cgroup.controllers is what the parent passes on. */
function v2Files(_dir: string, parentSubtree: string, procs: string): Record<string, string> {
  const c = words(parentSubtree);
  const files: Record<string, string> = {
    "cgroup.controllers": c.join(" "),
    "cgroup.subtree_control": "",
    "cgroup.procs": procs,
    "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.freeze": "0",
    "cgroup.kill": "",
    "cgroup.type": "domain",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
  };
  if (c.includes("cpu")) Object.assign(files, { "cpu.weight": "100", "cpu.max": "max 100000" });
  if (c.includes("cpuset")) Object.assign(files, { "cpuset.cpus": "", "cpuset.mems": "" });
  if (c.includes("memory")) {
    Object.assign(files, {
      "memory.max": "max",
      "memory.swap.max": "max",
      "memory.low": "0",
      "memory.current": "0",
      "memory.peak": "0",
      "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
    });
  }
  if (c.includes("pids")) Object.assign(files, { "pids.max": "max", "pids.current": "0" });
  if (c.includes("io")) Object.assign(files, { "io.max": "", "io.stat": "" });
  return files;
}

const v2Template: Template = (dir, parent, fs) =>
  v2Files(
    dir,
    fs.exists(`${parent}/cgroup.subtree_control`)
      ? fs.read(`${parent}/cgroup.subtree_control`)
      : "",
    "",
  );

const ALL_LIMITS = (): Limits =>
  limitsFromFlags({
    memory: "64m",
    "memory-swap": "128m",
    "memory-reservation": "32m",
    cpus: "1.5",
    "cpu-shares": "512",
    "cpuset-cpus": "0-1",
    "cpuset-mems": "0",
    "pids-limit": "100",
    "device-read-bps": "/dev/sda:1mb",
    "device-write-bps": "/dev/sda:2mb",
  }, { statDevice: fakeStat });

const OWN_MEM = "/memory/process_api/abc";

/** A hybrid host like this one, under a temp dir. */
function v1Fixture(opts: { unified: boolean }) {
  const root = tempDir();
  const fs = new FixtureFs(root, v1Template(root));
  const hiers: [string, string[]][] = [
    ["cpu,cpuacct", ["cpu", "cpuacct"]],
    ["cpuset", ["cpuset"]],
    ["memory", ["memory"]],
    ["devices", ["devices"]],
    ["freezer", ["freezer"]],
    ["blkio", ["blkio"]],
    ["pids", ["pids"]],
  ];
  for (const [name] of hiers) fs.seed(`${root}/${name}`, { "cgroup.procs": "1\n" });
  fs.seed(`${root}/cpuset`, { "cpuset.cpus": "0-3", "cpuset.mems": "0", "cgroup.procs": "1\n" });
  fs.seed(`${root}/memory/process_api`);
  fs.seed(`${root}${OWN_MEM}`, { "cgroup.procs": "100\n" });
  if (opts.unified) fs.seed(`${root}/unified`, { "cgroup.procs": "1\n" });
  const driver = new V1Driver({
    fs,
    hierarchies: hiers.map(([name, controllers]) => ({
      name,
      controllers,
      mountpoint: `${root}/${name}`,
      own: name === "memory" ? `${root}${OWN_MEM}` : `${root}/${name}`,
    })),
    unified: opts.unified ? { mountpoint: `${root}/unified`, own: `${root}/unified` } : undefined,
  });
  return { root, fs, driver };
}

// A pid that no process can have (above the kernel's largest pid_max).
const NO_PID = 4194304 + 7;

Deno.test("v1 driver: create() makes <own>/ctr/<id> in each hierarchy and fills cpuset", () => {
  const { fs, driver } = v1Fixture({ unified: true });
  assert.equal(driver.version, "hybrid");
  const cg = driver.create("c1");
  assert.deepEqual(fs.writes, [
    "mkdir /cpu,cpuacct/ctr",
    "mkdir /cpu,cpuacct/ctr/c1",
    "mkdir /cpuset/ctr",
    "/cpuset/ctr/cpuset.cpus = 0-3",
    "/cpuset/ctr/cpuset.mems = 0",
    "mkdir /cpuset/ctr/c1",
    "/cpuset/ctr/c1/cpuset.cpus = 0-3",
    "/cpuset/ctr/c1/cpuset.mems = 0",
    `mkdir ${OWN_MEM}/ctr`,
    `mkdir ${OWN_MEM}/ctr/c1`,
    "mkdir /devices/ctr",
    "mkdir /devices/ctr/c1",
    "mkdir /freezer/ctr",
    "mkdir /freezer/ctr/c1",
    "mkdir /blkio/ctr",
    "mkdir /blkio/ctr/c1",
    "mkdir /pids/ctr",
    "mkdir /pids/ctr/c1",
    "mkdir /unified/ctr",
    "mkdir /unified/ctr/c1",
  ]);
  assert.deepEqual(Object.keys(cg.paths), [
    "cpu,cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "unified",
  ]);
  assert.equal(cg.path, `${fs.root}${OWN_MEM}/ctr/c1`);
  assert.equal(cg.dir("io"), `${fs.root}/blkio/ctr/c1`);
  assert.equal(cg.dir("cpuacct"), `${fs.root}/cpu,cpuacct/ctr/c1`);
  fs.writes.length = 0;
  cg.addProcess(NO_PID);
  assert.deepEqual(fs.writes, [
    `/cpu,cpuacct/ctr/c1/cgroup.procs = ${NO_PID}`,
    `/cpuset/ctr/c1/cgroup.procs = ${NO_PID}`,
    `${OWN_MEM}/ctr/c1/cgroup.procs = ${NO_PID}`,
    `/devices/ctr/c1/cgroup.procs = ${NO_PID}`,
    `/freezer/ctr/c1/cgroup.procs = ${NO_PID}`,
    `/blkio/ctr/c1/cgroup.procs = ${NO_PID}`,
    `/pids/ctr/c1/cgroup.procs = ${NO_PID}`,
    `/unified/ctr/c1/cgroup.procs = ${NO_PID}`,
  ]);
  assert.deepEqual(cg.pids(), [NO_PID]);
  // The same id again while it holds a process: refused, and nothing new is left behind.
  const before = fs.tree();
  assert.throws(() => driver.create("c1"), /already exists and holds processes/);
  assert.deepEqual(fs.tree(), before);
  assert.throws(() => driver.create("../x"), /Invalid cgroup id/);
  assert.throws(() => driver.create("c2", "a/../../b"), /Invalid cgroup parent/);
});

Deno.test("v1 driver: apply() writes every limit to its file, in order", () => {
  const { fs, driver } = v1Fixture({ unified: false });
  const cg = driver.create("c1");
  fs.writes.length = 0;
  cg.apply(ALL_LIMITS());
  const d = (h: string) => `/${h}/ctr/c1`;
  assert.deepEqual(fs.writes, [
    `${d("cpu,cpuacct")}/cpu.shares = 512`,
    `${d("cpu,cpuacct")}/cpu.cfs_period_us = 100000`,
    `${d("cpu,cpuacct")}/cpu.cfs_quota_us = 150000`,
    `${d("cpuset")}/cpuset.cpus = 0-1`,
    `${d("cpuset")}/cpuset.mems = 0`,
    `${OWN_MEM}/ctr/c1/memory.limit_in_bytes = ${64 * MiB}`,
    `${OWN_MEM}/ctr/c1/memory.memsw.limit_in_bytes = ${128 * MiB}`,
    `${OWN_MEM}/ctr/c1/memory.soft_limit_in_bytes = ${32 * MiB}`,
    `${d("pids")}/pids.max = 100`,
    `${d("blkio")}/blkio.throttle.read_bps_device = 8:0 ${MiB}`,
    `${d("blkio")}/blkio.throttle.write_bps_device = 8:0 ${2 * MiB}`,
    `${d("devices")}/devices.deny = a`,
    ...DEFAULT_DEVICE_RULES.map((r) => `${d("devices")}/devices.allow = ${formatDeviceRule(r)}`),
  ]);

  // Raising memory above the current memsw: memsw goes first.
  fs.writes.length = 0;
  cg.apply({ memory: 256 * MiB, memorySwap: 512 * MiB });
  assert.deepEqual(fs.writes, [
    `${OWN_MEM}/ctr/c1/memory.memsw.limit_in_bytes = ${512 * MiB}`,
    `${OWN_MEM}/ctr/c1/memory.limit_in_bytes = ${256 * MiB}`,
  ]);
  // Docker's default swap: memsw is twice the memory; -1 is unlimited.
  fs.writes.length = 0;
  cg.apply({ memory: 100 * MiB });
  cg.apply({ pidsLimit: null, cpuWeight: 100, memory: 8 * MiB, memorySwap: -1 });
  cg.apply({ devices: { allowAll: true } });
  assert.deepEqual(fs.writes, [
    `${OWN_MEM}/ctr/c1/memory.limit_in_bytes = ${100 * MiB}`,
    `${OWN_MEM}/ctr/c1/memory.memsw.limit_in_bytes = ${200 * MiB}`,
    `${d("cpu,cpuacct")}/cpu.shares = 2597`,
    `${OWN_MEM}/ctr/c1/memory.limit_in_bytes = ${8 * MiB}`,
    `${OWN_MEM}/ctr/c1/memory.memsw.limit_in_bytes = -1`,
    `${d("pids")}/pids.max = max`,
    `${d("devices")}/devices.allow = a`,
  ]);
});

Deno.test("v1 driver: a missing file is an error that names it and the value", () => {
  const { driver } = v1Fixture({ unified: false });
  const cg = driver.create("c1");
  Deno.removeSync(`${cg.dir("memory")}/memory.memsw.limit_in_bytes`);
  // Without swap accounting the default swap is skipped, an explicit one refused.
  cg.apply({ memory: 64 * MiB });
  assert.throws(
    () => cg.apply({ memory: 64 * MiB, memorySwap: 128 * MiB }),
    /Cannot apply --memory-swap: .*memory\.memsw\.limit_in_bytes is missing/,
  );
  Deno.removeSync(`${cg.dir("pids")}/pids.max`);
  assert.throws(() => cg.apply({ pidsLimit: 5 }), {
    message: `write 5 to /pids/ctr/c1/pids.max: ENOENT (No such file or directory)`,
  });
  // The real filesystem's errors read the same way.
  const dir = tempDir();
  assert.throws(() => realCgroupFs.write(`${dir}/memory.limit_in_bytes`, "10x"), {
    message: `write 10x to ${dir}/memory.limit_in_bytes: ENOENT (No such file or directory)`,
  });
  assert.throws(() => realCgroupFs.rmdir(`${dir}/nothing`), {
    message: `rmdir ${dir}/nothing: ENOENT (No such file or directory)`,
  });
});

Deno.test("v1 driver: a limit without its hierarchy is refused", () => {
  const root = tempDir();
  const fs = new FixtureFs(root, v1Template(root));
  fs.seed(`${root}/memory`);
  const driver = new V1Driver({
    fs,
    hierarchies: [{
      name: "memory",
      controllers: ["memory"],
      mountpoint: `${root}/memory`,
      own: `${root}/memory`,
    }],
  });
  const cg = driver.create("c1");
  assert.throws(
    () => cg.apply({ pidsLimit: 5 }),
    /Cannot apply --pids-limit: no cgroup v1 hierarchy with the pids controller is mounted/,
  );
});

Deno.test("v1 driver: stats() and oomKilled() read the kernel's files", () => {
  const { fs, driver } = v1Fixture({ unified: true });
  const cg = driver.create("c1");
  const m = cg.dir("memory")!;
  fs.set(`${cg.dir("cpuacct")}/cpuacct.usage`, "123456789\n");
  fs.set(`${m}/memory.usage_in_bytes`, "1048576\n");
  fs.set(`${m}/memory.max_usage_in_bytes`, "2097152\n");
  fs.set(`${m}/memory.limit_in_bytes`, "33554432\n");
  fs.set(`${cg.dir("pids")}/pids.current`, "3\n");
  fs.set(`${cg.dir("pids")}/pids.max`, "5\n");
  fs.set(
    `${cg.dir("blkio")}/blkio.throttle.io_service_bytes_recursive`,
    "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\n8:16 Read 1\n8:16 Write 2\nTotal 12291\n",
  );
  assert.deepEqual(cg.stats(), {
    cpu: { usageNs: 123456789 },
    memory: { usage: MiB, limit: 32 * MiB, maxUsage: 2 * MiB },
    pids: { current: 3, limit: 5 },
    io: { readBytes: 4097, writeBytes: 8194 },
  });
  fs.set(`${m}/memory.limit_in_bytes`, UNLIMITED);
  fs.set(`${cg.dir("pids")}/pids.max`, "max\n");
  assert.equal(cg.stats().memory!.limit, null);
  assert.equal(cg.stats().pids!.limit, null);

  assert.equal(cg.oomKilled(), false);
  fs.set(`${m}/memory.oom_control`, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
  assert.equal(cg.oomKilled(), true);
  // Before Linux 4.13 there is no oom_kill count: the limit was hit and reached.
  fs.set(`${m}/memory.oom_control`, "oom_kill_disable 0\nunder_oom 0\n");
  fs.set(`${m}/memory.limit_in_bytes`, "33554432");
  fs.set(`${m}/memory.failcnt`, "0");
  assert.equal(cg.oomKilled(), false);
  fs.set(`${m}/memory.failcnt`, "17");
  fs.set(`${m}/memory.max_usage_in_bytes`, "33554432");
  assert.equal(cg.oomKilled(), true);
});

Deno.test("v1 driver: freeze, kill through cgroup2 on a hybrid host, destroy leaf first", async () => {
  const { fs, driver } = v1Fixture({ unified: true });
  const before = fs.tree();
  const cg = driver.create("c1");
  const other = driver.create("c2");
  cg.addProcess(NO_PID);
  fs.writes.length = 0;
  await cg.freeze();
  await cg.thaw();
  assert.deepEqual(fs.writes, [
    "/freezer/ctr/c1/freezer.state = FROZEN",
    "/freezer/ctr/c1/freezer.state = THAWED",
  ]);
  fs.writes.length = 0;
  await cg.killAll();
  assert.deepEqual(fs.writes, ["/unified/ctr/c1/cgroup.kill = 1"]);
  assert.deepEqual(cg.pids(), []);
  // A sub-cgroup the container made goes first; `ctr` stays while c2 uses it.
  fs.mkdir(`${cg.dir("pids")}/inner`);
  fs.writes.length = 0;
  await cg.destroy();
  assert.ok(
    fs.writes.indexOf("rmdir /pids/ctr/c1/inner") < fs.writes.indexOf("rmdir /pids/ctr/c1"),
  );
  assert.ok(fs.writes.includes("rmdir /unified/ctr/c1"));
  assert.ok(fs.exists(`${fs.root}/pids/ctr/c2`));
  await other.destroy();
  assert.deepEqual(fs.tree(), before);
});

// ---------------------------------------------------------------- v2

const ALL_V2 = "cpuset cpu io memory pids";

/** A cgroup v2 mount with our own cgroup at `own` (holding `procs`). */
function v2Fixture(own: string, procs = "100\n") {
  const root = tempDir();
  const fs = new FixtureFs(root, v2Template, root);
  Object.entries(v2Files(root, `${ALL_V2} hugetlb`, "1\n")).forEach(([f, v]) =>
    fs.set(`${root}/${f}`, v)
  );
  fs.set(`${root}/cgroup.subtree_control`, ALL_V2);
  Deno.removeSync(`${root}/cgroup.type`); // the real root has none
  let dir = root;
  for (const part of own.split("/").filter(Boolean)) {
    dir += `/${part}`;
    fs.seed(dir, { "cgroup.subtree_control": ALL_V2 });
  }
  if (dir !== root) {
    fs.set(`${dir}/cgroup.subtree_control`, "");
    fs.set(`${dir}/cgroup.procs`, procs);
  }
  const driver = new V2Driver({ fs, unified: { mountpoint: root, own: dir } });
  return { root, fs, driver };
}

Deno.test("v2 driver: own cgroup is the root: <root>/ctr/<id>, controllers enabled top-down", () => {
  const { fs, driver } = v2Fixture("/");
  assert.deepEqual(driver.controllers, ["cpuset", "cpu", "io", "memory", "pids"]);
  const cg = driver.create("c1");
  assert.deepEqual(fs.writes, [
    "mkdir /ctr",
    "/ctr/cgroup.subtree_control = +cpuset",
    "/ctr/cgroup.subtree_control = +cpu",
    "/ctr/cgroup.subtree_control = +io",
    "/ctr/cgroup.subtree_control = +memory",
    "/ctr/cgroup.subtree_control = +pids",
    "mkdir /ctr/c1",
  ]);
  assert.equal(cg.path, `${fs.root}/ctr/c1`);
  assert.deepEqual(cg.controllers, ["cpuset", "cpu", "io", "memory", "pids"]);
});

Deno.test("v2 driver: own cgroup holds processes: a `ctr` sibling under our parent", async () => {
  const { fs, driver } = v2Fixture("/system.slice/run-ctr.scope");
  const before = fs.tree();
  const cg = driver.create("c1");
  assert.deepEqual(fs.writes, [
    // Nothing is enabled in our own cgroup: cpuset, cpu and pids would be
    // accepted and make it a thread root.
    "mkdir /system.slice/ctr",
    "/system.slice/ctr/cgroup.subtree_control = +cpuset",
    "/system.slice/ctr/cgroup.subtree_control = +cpu",
    "/system.slice/ctr/cgroup.subtree_control = +io",
    "/system.slice/ctr/cgroup.subtree_control = +memory",
    "/system.slice/ctr/cgroup.subtree_control = +pids",
    "mkdir /system.slice/ctr/c1",
  ]);
  assert.equal(cg.path, `${fs.root}/system.slice/ctr/c1`);
  assert.deepEqual(cg.controllers, ["cpuset", "cpu", "io", "memory", "pids"]);
  await cg.destroy();
  assert.deepEqual(fs.tree(), before);
});

Deno.test("v2 driver: no usable parent: no controllers, and limits say why", async () => {
  const { fs, driver } = v2Fixture("/");
  fs.namespaceRoot = true; // the root of a cgroup namespace is not exempt
  fs.set(`${fs.root}/cgroup.type`, "domain"); // and has the file the real root lacks
  fs.set(`${fs.root}/cgroup.subtree_control`, "");
  const cg = driver.create("c1");
  assert.equal(cg.path, `${fs.root}/ctr/c1`);
  assert.deepEqual(cg.controllers, []);
  cg.apply({ devices: DEFAULT_DEVICES }); // v2: a BPF filter, no file
  assert.throws(
    () => cg.apply({ memory: 64 * MiB }),
    (e: Error) =>
      e instanceof CgroupError &&
      e.message.startsWith(
        `Cannot apply --memory: the memory controller is not enabled for ${fs.root}/ctr/c1: `,
      ) && /no-internal-process rule/.test(e.message) && /--cgroup-parent/.test(e.message),
  );
  cg.addProcess(NO_PID);
  await cg.freeze();
  await cg.killAll();
  await cg.destroy();
  assert.deepEqual(fs.tree(), []);
});

Deno.test("v2 driver: apply() writes every limit to its file, in order", () => {
  const { fs, driver } = v2Fixture("/");
  const cg = driver.create("c1");
  fs.writes.length = 0;
  cg.apply(ALL_LIMITS());
  assert.deepEqual(fs.writes, [
    "/ctr/c1/cpu.weight = 20",
    "/ctr/c1/cpu.max = 150000 100000",
    "/ctr/c1/cpuset.cpus = 0-1",
    "/ctr/c1/cpuset.mems = 0",
    `/ctr/c1/memory.max = ${64 * MiB}`,
    `/ctr/c1/memory.swap.max = ${64 * MiB}`,
    `/ctr/c1/memory.low = ${32 * MiB}`,
    "/ctr/c1/pids.max = 100",
    `/ctr/c1/io.max = 8:0 rbps=${MiB}`,
    `/ctr/c1/io.max = 8:0 wbps=${2 * MiB}`,
    "/ctr/c1/(device filter) = 12 rules",
  ]);
  fs.writes.length = 0;
  cg.apply({ memory: 100 * MiB, pidsLimit: null, cpuWeight: 300 });
  cg.apply({ memory: 100 * MiB, memorySwap: -1 });
  assert.deepEqual(fs.writes, [
    "/ctr/c1/cpu.weight = 300",
    `/ctr/c1/memory.max = ${100 * MiB}`,
    `/ctr/c1/memory.swap.max = ${100 * MiB}`,
    "/ctr/c1/pids.max = max",
    `/ctr/c1/memory.max = ${100 * MiB}`,
    "/ctr/c1/memory.swap.max = max",
  ]);
  fs.writes.length = 0;
  cg.apply({
    devices: { allowAll: false, extra: [{ type: "c", major: 10, minor: 229, access: "rwm" }] },
  });
  assert.deepEqual(
    fs.writes,
    ["/ctr/c1/(device filter) = 13 rules"],
    "docker's 12 and the extra one",
  );
  fs.writes.length = 0;
  cg.apply({ devices: { allowAll: true } });
  assert.deepEqual(fs.writes, [], "--privileged loads no filter");
});

Deno.test("v2 driver: --cgroup-parent levels are made and enabled from the top", async () => {
  const { fs, driver } = v2Fixture("/");
  const cg = driver.create("c1", "/mygroup/sub");
  assert.equal(cg.path, `${fs.root}/mygroup/sub/c1`);
  assert.deepEqual(fs.writes.filter((w) => w.startsWith("mkdir")), [
    "mkdir /mygroup",
    "mkdir /mygroup/sub",
    "mkdir /mygroup/sub/c1",
  ]);
  assert.ok(fs.writes.includes("/mygroup/sub/cgroup.subtree_control = +memory"));
  await cg.destroy();
  assert.deepEqual(fs.tree(), []);
});

Deno.test("v2 driver: stats(), oomKilled(), freeze, kill, destroy", async () => {
  const { fs, driver } = v2Fixture("/");
  const cg: Cgroup = driver.create("c1");
  const d = cg.path;
  fs.set(`${d}/cpu.stat`, "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
  fs.set(`${d}/memory.current`, "4096\n");
  fs.set(`${d}/memory.peak`, "8192\n");
  fs.set(`${d}/memory.max`, "33554432\n");
  fs.set(`${d}/pids.current`, "2\n");
  fs.set(
    `${d}/io.stat`,
    "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n",
  );
  assert.deepEqual(cg.stats(), {
    cpu: { usageNs: 1500000 },
    memory: { usage: 4096, limit: 32 * MiB, maxUsage: 8192 },
    pids: { current: 2, limit: null },
    io: { readBytes: 101, writeBytes: 202 },
  });
  assert.equal(cg.oomKilled(), false);
  fs.set(`${d}/memory.events`, "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n");
  assert.equal(cg.oomKilled(), true);

  cg.addProcess(NO_PID);
  fs.writes.length = 0;
  await cg.freeze();
  assert.match(fs.read(`${d}/cgroup.events`), /frozen 1/);
  await cg.thaw();
  await cg.killAll();
  assert.deepEqual(fs.writes, [
    "/ctr/c1/cgroup.freeze = 1",
    "/ctr/c1/cgroup.freeze = 0",
    "/ctr/c1/cgroup.kill = 1",
  ]);
  assert.deepEqual(cg.pids(), []);
  fs.writes.length = 0;
  await cg.destroy();
  assert.deepEqual(fs.writes, ["rmdir /ctr/c1", "rmdir /ctr"]);
});

Deno.test("v2 driver: destroy() retries while tasks are still leaving", async () => {
  const { fs, driver } = v2Fixture("/");
  const cg = driver.create("c1");
  fs.set(`${cg.path}/cgroup.procs`, `${NO_PID}\n`);
  setTimeout(() => fs.set(`${cg.path}/cgroup.procs`, ""), 50);
  await cg.destroy();
  assert.equal(fs.exists(cg.path), false);
});

Deno.test("plan() names what create() will make, changing nothing (v1, hybrid)", () => {
  const { fs, driver } = v1Fixture({ unified: true });
  const before = fs.tree();
  const plan = driver.plan("c1");
  assert.deepEqual(fs.writes, []);
  assert.deepEqual(fs.tree(), before);
  assert.deepEqual(plan.dirs, Object.values(plan.paths));
  assert.deepEqual(plan.paths, driver.create("c1").paths);
  assert.deepEqual(driver.plan("c2", "a/b").paths, driver.create("c2", "a/b").paths);
  assert.deepEqual(
    driver.levels(),
    Object.values(plan.paths).map((p) => p.slice(0, -"/c1".length)),
  );
  assert.throws(() => driver.plan("../x"), /Invalid cgroup id/);
});

Deno.test("plan() names what create() will make, changing nothing (v2)", () => {
  for (const own of ["/", "/system.slice/run-ctr.scope"]) {
    const { fs, driver } = v2Fixture(own);
    const before = fs.tree();
    const plan = driver.plan("c1");
    const explicit = driver.plan("c2", "/mygroup/sub");
    assert.deepEqual(fs.writes, [], own);
    assert.deepEqual(fs.tree(), before, own);
    assert.deepEqual(plan.paths, driver.create("c1").paths, own);
    assert.deepEqual(explicit.paths, driver.create("c2", "/mygroup/sub").paths, own);
    assert.deepEqual(explicit.dirs, [explicit.paths.unified]);
  }
  // Our own cgroup holds processes: the sibling, and the fallback create() takes without it.
  const { fs, driver } = v2Fixture("/system.slice/run-ctr.scope");
  assert.deepEqual(driver.plan("c1").dirs, [
    `${fs.root}/system.slice/ctr/c1`,
    `${fs.root}/system.slice/run-ctr.scope/ctr/c1`,
  ]);
  assert.deepEqual(driver.levels(), [
    `${fs.root}/system.slice/run-ctr.scope/ctr`,
    `${fs.root}/system.slice/ctr`,
  ]);
});

Deno.test("openCgroupDriver() picks the driver from the layout", () => {
  const root = tempDir();
  const fs = new FixtureFs(root, v2Template, root);
  const hybrid = openCgroupDriver({ fs, layout: cgroupLayout(HYBRID_MOUNTINFO, HYBRID_CGROUP) });
  assert.ok(hybrid instanceof V1Driver);
  assert.equal(hybrid.version, "hybrid");
  const v2 = openCgroupDriver({
    fs,
    layout: { version: "v2", v1: [], unified: { mountpoint: root, own: root } },
  });
  assert.ok(v2 instanceof V2Driver);
});

Deno.test('v1 driver: a parent of "/" is the hierarchy\'s root, "." our own cgroup', async () => {
  const { fs, driver } = v1Fixture({ unified: false });
  const before = fs.tree();
  const top = driver.create("top", "/");
  assert.equal(top.path, `${fs.root}/memory/top`);
  assert.equal(top.dir("pids"), `${fs.root}/pids/top`);
  assert.deepEqual(top.parents, []);
  const own = driver.create("own", ".");
  assert.equal(own.path, `${fs.root}${OWN_MEM}/own`);
  await top.destroy();
  await own.destroy();
  assert.deepEqual(fs.tree(), before);
  assert.throws(() => driver.create("c", ""), /Invalid cgroup parent/);
});

Deno.test("v1 driver: the parents create() made are the Cgroup's; open() takes them back", async () => {
  const { fs, driver } = v1Fixture({ unified: false });
  const before = fs.tree();
  const a = driver.create("a", "/pod/x");
  assert.deepEqual(
    a.parents.filter((p) => p.includes("/memory/")),
    [`${fs.root}/memory/pod/x`, `${fs.root}/memory/pod`],
  );
  // A second container below: the parents exist, so they are not its to remove.
  const b = driver.create("b", "/pod/x");
  assert.deepEqual(b.parents, []);
  // Reopened as another process would (a recorded container), with the parents recorded.
  await driver.open("a", a.paths, a.parents).destroy();
  assert.ok(fs.exists(`${fs.root}/memory/pod/x/b`), "b's cgroup went with a");
  assert.ok(fs.exists(`${fs.root}/memory/pod/x`), "a shared parent went while in use");
  await driver.open("b", b.paths, a.parents).destroy();
  assert.deepEqual(fs.tree(), before);
});

Deno.test("v1 driver: memory swappiness and a disabled OOM killer; v2 refuses both", () => {
  const v1 = v1Fixture({ unified: false });
  const cg = v1.driver.create("c1");
  v1.fs.writes.length = 0;
  cg.apply({ memorySwappiness: 0, oomKillDisable: true });
  assert.deepEqual(v1.fs.writes, [
    `${OWN_MEM}/ctr/c1/memory.swappiness = 0`,
    `${OWN_MEM}/ctr/c1/memory.oom_control = 1`,
  ]);
  const v2 = v2Fixture("/").driver.create("c1");
  assert.throws(() => v2.apply({ memorySwappiness: 10 }), /swappiness: cgroup v2 has no/);
  assert.throws(
    () => v2.apply({ oomKillDisable: true }),
    /cgroup v2 cannot turn the OOM killer off/,
  );
});
