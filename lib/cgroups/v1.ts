/**
 * The cgroup v1 driver: one directory per mounted hierarchy (`memory`,
 * `cpu,cpuacct`, ...), each `<own>/ctr/<id>`. On a hybrid host the container
 * also joins the cgroup2 hierarchy (no controllers needed there) for an
 * atomic `cgroup.kill`; the limits are all written on v1.
 *
 * v1 details kept here: a new cpuset cgroup has empty cpuset.cpus and
 * cpuset.mems and refuses tasks (ENOSPC) until they are filled in, so each new
 * level copies its parent's; memory.memsw.limit_in_bytes must never be below
 * memory.limit_in_bytes, so the order of the two writes depends on the values;
 * a frozen task only dies once thawed.
 * @module
 */

import {
  CPU_PERIOD,
  DEFAULT_DEVICE_RULES,
  type DeviceRule,
  formatDeviceRule,
  type Limits,
  weightToShares,
} from "./limits.ts";
import {
  type Cgroup,
  type CgroupDriver,
  CgroupError,
  type CgroupFs,
  type CgroupPlan,
  type CgroupStats,
  checkName,
  keyed,
  killEach,
  limitValue,
  placement,
  removeCgroupTree,
  rmdirIfUnused,
  treePids,
  type UnifiedHierarchy,
  type V1Hierarchy,
} from "./_common.ts";
import { sleep } from "../os/async.ts";
import { freezeUnified, killUnified } from "./v2.ts";

/** v2 controller names that v1 spells differently. */
const V1_NAME: Record<string, string> = { io: "blkio" };

/** Reads a file, or undefined when it does not exist. */
function readIfThere(fs: CgroupFs, path: string): string | undefined {
  try {
    return fs.read(path);
  } catch (e) {
    if ((e as CgroupError).code === "ENOENT") return undefined;
    throw e;
  }
}

/**
 * Makes `from/levels.../id`, one level at a time, calling `init` on each
 * level (made now or before). A shared parent removed meanwhile by another
 * container's cleanup (ENOENT) is made again.
 */
export function makeChain(
  fs: CgroupFs,
  from: string,
  levels: readonly string[],
  init: (dir: string, parent: string) => void,
  made: string[],
): string {
  for (let attempt = 0;; attempt++) {
    try {
      let dir = from;
      for (const l of levels) {
        const parent = dir;
        dir = `${dir}/${l}`;
        if (fs.mkdir(dir)) made.push(dir);
        init(dir, parent);
      }
      return dir;
    } catch (e) {
      if ((e as CgroupError).code !== "ENOENT" || attempt >= 3) throw e;
    }
  }
}

/** Fills an empty cpuset.cpus / cpuset.mems from the parent: without them no task may join. */
function initCpuset(fs: CgroupFs, dir: string, parent: string): void {
  for (const f of ["cpuset.cpus", "cpuset.mems"]) {
    if (fs.read(`${dir}/${f}`).trim() !== "") continue;
    fs.write(`${dir}/${f}`, fs.read(`${parent}/${f}`).trim());
  }
}

/** Sets freezer.state and waits until the kernel reports that state. */
async function setFreezer(fs: CgroupFs, dir: string, state: "FROZEN" | "THAWED") {
  const file = `${dir}/freezer.state`;
  const end = Date.now() + 5000;
  for (let delay = 1;; delay = Math.min(delay * 2, 50)) {
    // Writing FROZEN again moves a cgroup stuck in FREEZING on (runc does the same).
    fs.write(file, state);
    const now = fs.read(file).trim();
    if (now === state) return;
    if (Date.now() > end) {
      if (state === "FROZEN") fs.write(file, "THAWED");
      throw new CgroupError(
        `${
          state === "FROZEN" ? "freeze" : "thaw"
        } ${dir}: ${file} stays ${now} (a task is stuck in the kernel?)`,
        "ETIMEDOUT",
        file,
      );
    }
    await sleep(delay);
  }
}

/** Options of {@linkcode V1Driver}. */
export interface V1Options {
  readonly fs: CgroupFs;
  /** The hierarchies to join. */
  readonly hierarchies: readonly V1Hierarchy[];
  /** The cgroup2 mount of a hybrid host. */
  readonly unified?: UnifiedHierarchy;
}

/** Container cgroups on cgroup v1 (and hybrid) hosts. */
export class V1Driver implements CgroupDriver {
  readonly version: "v1" | "hybrid";
  readonly controllers: readonly string[];
  readonly #fs: CgroupFs;
  readonly #hierarchies: readonly V1Hierarchy[];
  readonly #unified?: UnifiedHierarchy;

  constructor(opts: V1Options) {
    this.#fs = opts.fs;
    this.#hierarchies = opts.hierarchies;
    this.#unified = opts.unified;
    this.version = opts.unified ? "hybrid" : "v1";
    this.controllers = opts.hierarchies.flatMap((h) => h.controllers).map((c) =>
      c === "blkio" ? "io" : c
    );
  }

  create(id: string, parent?: string): Cgroup {
    checkName("id", id);
    const fs = this.#fs;
    const made: string[] = [];
    const dirs: [V1Hierarchy, string][] = [];
    const parents: string[] = [];
    let unified: string | undefined;
    try {
      for (const h of this.#hierarchies) {
        const p = placement(h.mountpoint, h.own, parent);
        const init = h.controllers.includes("cpuset")
          ? (d: string, up: string) => initCpuset(fs, d, up)
          : () => {};
        const base = makeChain(fs, p.from, p.levels, init, made);
        const leaf = makeChain(fs, base, [id], init, made);
        if (!made.includes(leaf)) refuseBusy(fs, leaf);
        dirs.push([h, leaf]);
        parents.push(...removable(base, p.from, parent, made));
      }
      if (this.#unified) {
        // Membership only, for cgroup.kill: best effort, v1 does the work without it.
        const u = this.#unified;
        const p = placement(u.mountpoint, u.own, parent);
        const mine: string[] = [];
        try {
          const base = makeChain(fs, p.from, p.levels, () => {}, mine);
          const leaf = makeChain(fs, base, [id], () => {}, mine);
          if (!mine.includes(leaf)) refuseBusy(fs, leaf);
          unified = leaf;
          parents.push(...removable(base, p.from, parent, mine));
          made.push(...mine);
        } catch {
          for (const d of mine.reverse()) rmdirIfUnused(fs, d);
        }
      }
    } catch (e) {
      for (const d of made.reverse()) rmdirIfUnused(fs, d);
      throw e;
    }
    return new V1Cgroup(fs, id, dirs, unified, parents);
  }

  plan(id: string, parent?: string): CgroupPlan {
    checkName("id", id);
    const paths: Record<string, string> = {};
    for (const h of this.#hierarchies) {
      paths[h.name] = `${placement(h.mountpoint, h.own, parent).base}/${id}`;
    }
    const u = this.#unified;
    if (u) paths.unified = `${placement(u.mountpoint, u.own, parent).base}/${id}`;
    return { paths, dirs: Object.values(paths) };
  }

  levels(): string[] {
    const all = [...this.#hierarchies, ...(this.#unified ? [this.#unified] : [])];
    return all.map((h) => placement(h.mountpoint, h.own, undefined).base);
  }

  open(id: string, paths: Readonly<Record<string, string>>, parents?: readonly string[]): Cgroup {
    return openV1(this.#fs, this.#hierarchies, id, paths, parents);
  }
}

/** Reopens a recorded cgroup (see CgroupDriver.open). */
export function openV1(
  fs: CgroupFs,
  hierarchies: readonly V1Hierarchy[],
  id: string,
  paths: Readonly<Record<string, string>>,
  parents: readonly string[] = [],
): Cgroup {
  const dirs: [V1Hierarchy, string][] = [];
  for (const h of hierarchies) if (paths[h.name]) dirs.push([h, paths[h.name]]);
  return new V1Cgroup(fs, id, dirs, paths.unified, parents);
}

/** A leaf that was already there is reused only when empty (a crashed run's leftover). */
function refuseBusy(fs: CgroupFs, leaf: string): void {
  if (treePids(fs, leaf).length > 0) {
    throw new CgroupError(
      `Cannot create cgroup ${leaf}: it already exists and holds processes`,
      "EEXIST",
      leaf,
    );
  }
}

/**
 * The parents destroy() may rmdir when they are left empty, deepest first:
 * the default `ctr` level, and whatever levels of an explicit parent this
 * call made.
 */
function removable(
  base: string,
  from: string,
  parent: string | undefined,
  made: readonly string[],
): string[] {
  const out: string[] = [];
  for (let d = base; d.length > from.length; d = d.slice(0, d.lastIndexOf("/"))) {
    if (parent === undefined || made.includes(d)) out.push(d);
  }
  return out;
}

class V1Cgroup implements Cgroup {
  readonly path: string;
  readonly paths: Readonly<Record<string, string>>;
  readonly controllers: readonly string[];
  readonly #fs: CgroupFs;
  readonly #dirs: readonly [V1Hierarchy, string][];
  readonly #unified?: string;
  readonly parents: readonly string[];

  constructor(
    fs: CgroupFs,
    readonly id: string,
    dirs: [V1Hierarchy, string][],
    unified: string | undefined,
    parents: readonly string[],
  ) {
    this.#fs = fs;
    this.#dirs = dirs;
    this.#unified = unified;
    this.parents = parents;
    const paths: Record<string, string> = {};
    for (const [h, d] of dirs) paths[h.name] = d;
    if (unified) paths.unified = unified;
    this.paths = paths;
    this.path = this.dir("memory") ?? dirs[0]?.[1] ?? unified ?? "";
    this.controllers = dirs.flatMap(([h]) => h.controllers).map((c) => c === "blkio" ? "io" : c);
  }

  dir(controller: string): string | undefined {
    if (controller === "unified") return this.#unified;
    const name = V1_NAME[controller] ?? controller;
    return this.#dirs.find(([h]) => h.controllers.includes(name))?.[1];
  }

  cloneTarget(): undefined {
    return undefined;
  }

  addProcess(pid: number): void {
    for (const [, d] of this.#dirs) this.#fs.write(`${d}/cgroup.procs`, String(pid));
    if (this.#unified) this.#fs.write(`${this.#unified}/cgroup.procs`, String(pid));
  }

  #need(controller: string, flag: string): string {
    const d = this.dir(controller);
    if (d === undefined) {
      throw new CgroupError(
        `Cannot apply ${flag}: no cgroup v1 hierarchy with the ${
          V1_NAME[controller] ?? controller
        } controller is mounted`,
        "",
        this.path,
      );
    }
    return d;
  }

  apply(l: Limits): void {
    const fs = this.#fs;
    const w = (dir: string, file: string, value: string | number) =>
      fs.write(`${dir}/${file}`, String(value));

    const shares = l.cpuShares ??
      (l.cpuWeight !== undefined ? weightToShares(l.cpuWeight) : undefined);
    if (shares !== undefined) w(this.#need("cpu", "--cpu-shares"), "cpu.shares", shares);
    if (l.cpuQuota !== undefined) {
      const d = this.#need("cpu", "--cpus");
      w(d, "cpu.cfs_period_us", l.cpuPeriod ?? CPU_PERIOD);
      w(d, "cpu.cfs_quota_us", l.cpuQuota);
    }

    if (l.cpusetCpus !== undefined) {
      w(this.#need("cpuset", "--cpuset-cpus"), "cpuset.cpus", l.cpusetCpus);
    }
    if (l.cpusetMems !== undefined) {
      w(this.#need("cpuset", "--cpuset-mems"), "cpuset.mems", l.cpusetMems);
    }

    if (l.memory !== undefined || l.memorySwap !== undefined) this.#applyMemory(l);
    if (l.memoryReservation !== undefined) {
      w(
        this.#need("memory", "--memory-reservation"),
        "memory.soft_limit_in_bytes",
        l.memoryReservation,
      );
    }

    if (l.pidsLimit !== undefined) {
      w(this.#need("pids", "--pids-limit"), "pids.max", l.pidsLimit ?? "max");
    }

    for (const r of l.deviceReadBps ?? []) {
      w(
        this.#need("io", "--device-read-bps"),
        "blkio.throttle.read_bps_device",
        `${r.major}:${r.minor} ${r.rate}`,
      );
    }
    for (const r of l.deviceWriteBps ?? []) {
      w(
        this.#need("io", "--device-write-bps"),
        "blkio.throttle.write_bps_device",
        `${r.major}:${r.minor} ${r.rate}`,
      );
    }

    for (const r of l.deviceReadIops ?? []) {
      w(
        this.#need("io", "--device-read-iops"),
        "blkio.throttle.read_iops_device",
        `${r.major}:${r.minor} ${r.rate}`,
      );
    }
    for (const r of l.deviceWriteIops ?? []) {
      w(
        this.#need("io", "--device-write-iops"),
        "blkio.throttle.write_iops_device",
        `${r.major}:${r.minor} ${r.rate}`,
      );
    }
    if (l.blkioWeight !== undefined || l.blkioWeightDevice?.length) this.#applyWeights(l);
    if (l.cpuRtPeriod !== undefined || l.cpuRtRuntime !== undefined) this.#applyRealtime(l);
    if (l.memorySwappiness !== undefined) {
      w(this.#need("memory", "--memory-swappiness"), "memory.swappiness", l.memorySwappiness);
    }
    if (l.oomKillDisable) w(this.#need("memory", "--oom-kill-disable"), "memory.oom_control", 1);

    if (l.devices) {
      const d = this.#need("devices", "the device rules");
      if (l.devices.allowAll) {
        allowDevice(fs, d, { type: "a", major: "*", minor: "*", access: "rwm" }, true);
      } else {
        w(d, "devices.deny", "a");
        for (const r of DEFAULT_DEVICE_RULES) allowDevice(fs, d, r, true);
        for (const r of l.devices.extra) allowDevice(fs, d, r, false);
      }
    }
  }

  /**
   * Proportional I/O weights: blkio.weight with CFQ, blkio.bfq.weight with
   * BFQ; neither exists when no disk uses a proportional scheduler.
   */
  #applyWeights(l: Limits): void {
    const fs = this.#fs;
    const d = this.#need("io", "--blkio-weight");
    const prefix = fs.exists(`${d}/blkio.weight`)
      ? "blkio.weight"
      : fs.exists(`${d}/blkio.bfq.weight`)
      ? "blkio.bfq.weight"
      : undefined;
    if (!prefix) {
      throw new CgroupError(
        `Cannot apply --blkio-weight: ${d} has no blkio.weight or blkio.bfq.weight (no disk here uses a proportional I/O scheduler such as BFQ)`,
        "ENOENT",
        `${d}/blkio.weight`,
      );
    }
    if (l.blkioWeight !== undefined) fs.write(`${d}/${prefix}`, String(l.blkioWeight));
    for (const x of l.blkioWeightDevice ?? []) {
      fs.write(`${d}/${prefix}_device`, `${x.major}:${x.minor} ${x.weight}`);
    }
  }

  /**
   * The real-time budget: the period first (the runtime must fit in it).
   * The kernel lacks the files without CONFIG_RT_GROUP_SCHED, and refuses a
   * runtime its parent has no budget for (EINVAL): both are said plainly.
   */
  #applyRealtime(l: Limits): void {
    const fs = this.#fs;
    const d = this.#need("cpu", "--cpu-rt-runtime");
    const runtime = `${d}/cpu.rt_runtime_us`;
    if (!fs.exists(runtime)) {
      throw new CgroupError(
        "Cannot apply --cpu-rt-period/--cpu-rt-runtime: this kernel has no real-time group scheduling (CONFIG_RT_GROUP_SCHED)",
        "ENOENT",
        runtime,
      );
    }
    if (l.cpuRtPeriod !== undefined) fs.write(`${d}/cpu.rt_period_us`, String(l.cpuRtPeriod));
    if (l.cpuRtRuntime === undefined) return;
    const parent = d.slice(0, d.lastIndexOf("/"));
    if (this.parents.includes(parent) && l.cpuRtRuntime > 0) {
      // A level ctr made (the `ctr` level) starts with no budget: it gets what its
      // containers ask, from its own parent, as docker's daemon gives its cgroup. The
      // kernel compares shares of a period: runtime/period of the children against its.
      const num = (f: string, dflt: number) => Number(readIfThere(fs, f)?.trim() ?? dflt);
      const share = (dir: string) =>
        Math.max(0, num(`${dir}/cpu.rt_runtime_us`, 0)) / num(`${dir}/cpu.rt_period_us`, 1e6);
      const others = fs.dirs(parent).filter((c) => `${parent}/${c}` !== d);
      const wanted = others.reduce(
        (sum, c) => sum + share(`${parent}/${c}`),
        l.cpuRtRuntime / (l.cpuRtPeriod ?? num(`${d}/cpu.rt_period_us`, 1e6)),
      );
      const need = Math.ceil(wanted * num(`${parent}/cpu.rt_period_us`, 1e6));
      if (num(`${parent}/cpu.rt_runtime_us`, 0) < need) {
        try {
          fs.write(`${parent}/cpu.rt_runtime_us`, String(need));
        } catch { /* its own parent has no more: said below */ }
      }
    }
    try {
      fs.write(runtime, String(l.cpuRtRuntime));
    } catch (e) {
      if ((e as CgroupError).code !== "EINVAL" && (e as CgroupError).code !== "EBUSY") throw e;
      throw new CgroupError(
        `Cannot apply --cpu-rt-runtime ${l.cpuRtRuntime}: the parent cgroup ${parent} has ${
          (readIfThere(fs, `${parent}/cpu.rt_runtime_us`) ?? "?").trim()
        } µs of real-time budget to share (give it more in cpu.rt_runtime_us, as docker's daemon --cpu-rt-runtime does)`,
        (e as CgroupError).code,
        runtime,
      );
    }
  }

  /** memory.limit_in_bytes and memory.memsw.limit_in_bytes, in an order the kernel accepts. */
  #applyMemory(l: Limits): void {
    const fs = this.#fs;
    const d = this.#need("memory", "--memory");
    const memsw = `${d}/memory.memsw.limit_in_bytes`;
    const swapNow = readIfThere(fs, memsw);
    if (l.memorySwap !== undefined && swapNow === undefined) {
      throw new CgroupError(
        `Cannot apply --memory-swap: ${memsw} is missing (the kernel does not account swap; boot with swapaccount=1)`,
        "ENOENT",
        memsw,
      );
    }
    // Docker's default: as much swap as memory (memory+swap = twice the memory).
    const swap = l.memorySwap ??
      (l.memory !== undefined && swapNow !== undefined ? l.memory * 2 : undefined);
    // memsw may never be below the memory limit: raise it first when the new
    // memory limit is above the current memsw.
    const current = swapNow === undefined ? null : limitValue(swapNow);
    const swapFirst = swap !== undefined && l.memory !== undefined && current !== null &&
      l.memory > current;
    if (swapFirst) fs.write(memsw, String(swap));
    if (l.memory !== undefined) fs.write(`${d}/memory.limit_in_bytes`, String(l.memory));
    if (!swapFirst && swap !== undefined) fs.write(memsw, String(swap));
  }

  stats(): CgroupStats {
    const fs = this.#fs;
    const num = (path: string) => Number(fs.read(path).trim());
    const out: CgroupStats = {};
    const acct = this.dir("cpuacct");
    if (acct) {
      out.cpu = { usageNs: num(`${acct}/cpuacct.usage`) };
    } else if (this.#unified) {
      const usec = keyed(fs.read(`${this.#unified}/cpu.stat`)).get("usage_usec") ?? 0;
      out.cpu = { usageNs: usec * 1000 };
    }
    const mem = this.dir("memory");
    if (mem) {
      out.memory = {
        usage: num(`${mem}/memory.usage_in_bytes`),
        limit: limitValue(fs.read(`${mem}/memory.limit_in_bytes`)),
        maxUsage: num(`${mem}/memory.max_usage_in_bytes`),
      };
    }
    const pids = this.dir("pids");
    if (pids) {
      out.pids = {
        current: num(`${pids}/pids.current`),
        limit: limitValue(fs.read(`${pids}/pids.max`)),
      };
    }
    const blkio = this.dir("blkio");
    if (blkio) {
      const text = readIfThere(fs, `${blkio}/blkio.throttle.io_service_bytes_recursive`) ??
        readIfThere(fs, `${blkio}/blkio.throttle.io_service_bytes`) ?? "";
      let readBytes = 0, writeBytes = 0;
      for (const line of text.split("\n")) {
        const [, op, n] = line.trim().split(/\s+/);
        if (op === "Read") readBytes += Number(n);
        if (op === "Write") writeBytes += Number(n);
      }
      out.io = { readBytes, writeBytes };
    }
    return out;
  }

  oomKilled(): boolean {
    const mem = this.dir("memory");
    if (!mem) return false;
    const fs = this.#fs;
    const oom = keyed(fs.read(`${mem}/memory.oom_control`));
    // Kernels since 4.13 count the kills.
    const kills = oom.get("oom_kill");
    if (kills !== undefined) return kills > 0;
    if (oom.get("under_oom") === 1) return true;
    // Older kernels: the limit was hit and usage reached it.
    const failcnt = Number(fs.read(`${mem}/memory.failcnt`).trim());
    const max = Number(fs.read(`${mem}/memory.max_usage_in_bytes`).trim());
    const limit = limitValue(fs.read(`${mem}/memory.limit_in_bytes`));
    return failcnt > 0 && limit !== null && max >= limit;
  }

  async freeze(): Promise<void> {
    const f = this.dir("freezer");
    if (f) return await setFreezer(this.#fs, f, "FROZEN");
    if (this.#unified) return await freezeUnified(this.#fs, this.#unified, true);
    throw new CgroupError(`Cannot freeze ${this.path}: no freezer hierarchy is mounted`, "", "");
  }

  async thaw(): Promise<void> {
    const f = this.dir("freezer");
    // Not frozen (the usual case at a release): one read, no write.
    if (f && this.#fs.read(`${f}/freezer.state`).trim() === "THAWED") return;
    if (f) return await setFreezer(this.#fs, f, "THAWED");
    if (this.#unified) return await freezeUnified(this.#fs, this.#unified, false);
    throw new CgroupError(`Cannot thaw ${this.path}: no freezer hierarchy is mounted`, "", "");
  }

  async killAll(): Promise<void> {
    const fs = this.#fs;
    const f = this.dir("freezer");
    if (this.#unified && fs.exists(`${this.#unified}/cgroup.kill`)) {
      // A paused container is frozen on v1: the kill is pending until the thaw.
      const thaw = f && fs.read(`${f}/freezer.state`).trim() !== "THAWED"
        ? () => setFreezer(fs, f, "THAWED")
        : undefined;
      await killUnified(fs, this.#unified, thaw);
    }
    await killEach({
      pids: () => this.pids(),
      freeze: f ? () => setFreezer(fs, f, "FROZEN") : undefined,
      thaw: f ? () => setFreezer(fs, f, "THAWED") : undefined,
      what: this.path,
    });
  }

  async destroy(): Promise<void> {
    const all = this.#dirs.map(([, d]) => d);
    if (this.#unified) all.push(this.#unified);
    for (const d of all) await removeCgroupTree(this.#fs, d);
    for (const p of this.parents) rmdirIfUnused(this.#fs, p);
  }

  pids(): number[] {
    const d = this.dir("pids") ?? this.dir("freezer") ?? this.path;
    return d ? treePids(this.#fs, d) : [];
  }
}

/**
 * One devices.allow write. Docker's defaults are allowed "as far as the
 * parent allows": a v1 child can never get more than its parent, and the
 * kernel says EPERM for what the parent lacks, which only leaves the
 * container with less.
 */
function allowDevice(fs: CgroupFs, dir: string, r: DeviceRule, parentMayLack: boolean): void {
  try {
    fs.write(`${dir}/devices.allow`, formatDeviceRule(r));
  } catch (e) {
    if (!(parentMayLack && (e as CgroupError).code === "EPERM")) throw e;
  }
}
