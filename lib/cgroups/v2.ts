/**
 * The cgroup v2 driver: one directory in the unified hierarchy.
 *
 * Two kernel rules (Documentation/admin-guide/cgroup-v2.rst) shape where it
 * goes:
 * - "Top-down constraint": a controller can be enabled in a cgroup's
 *   cgroup.subtree_control only when the parent enabled it, so it must be
 *   enabled in every ancestor, from our own cgroup down to the container's.
 * - "No internal process constraint": a non-root cgroup can enable domain
 *   controllers for its children only when it has no processes of its own;
 *   the write fails with EBUSY otherwise. Threaded controllers (cpuset, cpu,
 *   pids) are accepted there, but they make the cgroup a thread root whose
 *   domain children take no process (EOPNOTSUPP), so ctr enables nothing in a
 *   cgroup with processes. Our own cgroup holds at least us, so below it
 *   containers usually cannot get controllers.
 *
 * Hence the default placement, in order:
 * 1. `<own>/ctr/<id>` when controllers can be enabled in our own cgroup: it is
 *    the root (exempt from the rule), it has no processes, or no controllers
 *    are wanted at all (a hybrid host's cgroup2 hierarchy, for instance).
 * 2. Else `<parent of own>/ctr/<id>`, a sibling of our own cgroup: the parent
 *    already delegates the controllers to us (they are in our
 *    cgroup.controllers), so it holds no processes, and a `ctr` child of it
 *    can enable them for the containers. The containers stay inside every
 *    limit above our own cgroup; only our own cgroup's limits do not cover
 *    them (a cgroup with processes cannot have controller-limited children
 *    anyway). Needs the parent to be writable (root usually is).
 * 3. Else `<own>/ctr/<id>` without controllers: membership, freezing, killing
 *    and cpu.stat still work, and apply() refuses any limit with an error that
 *    says why and what to do (run ctr from an empty leaf cgroup, or give
 *    --cgroup-parent). Moving other processes out of our cgroup to make room
 *    (what docker-in-docker entrypoints do) is left to whoever owns them.
 *
 * An explicit `--cgroup-parent` is used as given, enabling controllers in each
 * level from its top down.
 * @module
 */

import { CPU_PERIOD, DEFAULT_DEVICE_RULES, type Limits, sharesToWeight } from "./limits.ts";
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
  waitUntil,
} from "./_common.ts";

/** The controllers ctr enables for containers. */
export const V2_CONTROLLERS: readonly string[] = ["cpuset", "cpu", "io", "memory", "pids"];

const words = (text: string) => text.trim().split(/\s+/).filter((w) => w !== "");

/**
 * Whether `dir` is a cgroup other than the hierarchy's real root that holds
 * processes. The real root is the one cgroup without cgroup.type (the root of
 * a cgroup namespace is an ordinary cgroup and has it).
 */
export function holdsProcesses(fs: CgroupFs, dir: string): boolean {
  if (!fs.exists(`${dir}/cgroup.type`)) return false;
  return fs.read(`${dir}/cgroup.procs`).trim() !== "";
}

/**
 * Enables each of `wanted` that `dir` has but does not pass on yet, one
 * write per controller so one refusal does not block the others. Returns the
 * refusals.
 *
 * Nothing is written to a cgroup that holds processes (the real root aside).
 * The kernel refuses the domain controllers there (memory, io: EBUSY), but it
 * accepts the threaded ones (cpuset, cpu, pids), and that turns the cgroup
 * into a thread root: every domain cgroup below it becomes invalid and takes
 * no process (EOPNOTSUPP), containers included.
 */
export function enableControllers(
  fs: CgroupFs,
  dir: string,
  wanted: readonly string[],
): Map<string, CgroupError> {
  const failed = new Map<string, CgroupError>();
  const have = new Set(words(fs.read(`${dir}/cgroup.controllers`)));
  const on = new Set(words(fs.read(`${dir}/cgroup.subtree_control`)));
  const todo = wanted.filter((c) => !on.has(c) && have.has(c));
  if (todo.length > 0 && holdsProcesses(fs, dir)) {
    for (const c of todo) {
      failed.set(
        c,
        new CgroupError(
          `Not enabling ${c} in ${dir}/cgroup.subtree_control: the cgroup holds processes`,
          "EBUSY",
          dir,
        ),
      );
    }
    return failed;
  }
  for (const c of todo) {
    try {
      fs.write(`${dir}/cgroup.subtree_control`, `+${c}`);
    } catch (e) {
      failed.set(c, e as CgroupError);
    }
  }
  return failed;
}

const describe = (failed: Map<string, CgroupError>) =>
  [...failed.values()].map((e) => e.message).join("; ");

/** Writes cgroup.freeze and waits for cgroup.events to say so. */
export async function freezeUnified(fs: CgroupFs, dir: string, frozen: boolean): Promise<void> {
  const want = frozen ? 1 : 0;
  fs.write(`${dir}/cgroup.freeze`, String(want));
  await waitUntil(
    () => keyed(fs.read(`${dir}/cgroup.events`)).get("frozen") === want,
    () => `${frozen ? "freeze" : "thaw"} ${dir}: cgroup.events never said frozen ${want}`,
  );
}

/**
 * cgroup.kill (Linux 5.14): SIGKILLs the whole subtree at once; waits until it
 * is empty. `afterKill` runs in between (v1 thaws there: a task frozen by the
 * v1 freezer only dies once thawed).
 */
export async function killUnified(
  fs: CgroupFs,
  dir: string,
  afterKill?: () => Promise<void>,
): Promise<void> {
  fs.write(`${dir}/cgroup.kill`, "1");
  await afterKill?.();
  await waitUntil(
    () => keyed(fs.read(`${dir}/cgroup.events`)).get("populated") === 0,
    () => `kill ${dir}: tasks are still there: ${treePids(fs, dir).join(" ")}`,
    10000,
  );
}

/** Options of {@linkcode V2Driver}. */
export interface V2Options {
  readonly fs: CgroupFs;
  readonly unified: UnifiedHierarchy;
}

interface Base {
  /** The directory that holds `<id>`. */
  readonly base: string;
  /** Parents destroy() may remove when empty, deepest first. */
  readonly parents: readonly string[];
  /** Why some controllers are missing, when they are. */
  readonly note?: string;
}

/** Container cgroups on a cgroup v2 host. */
export class V2Driver implements CgroupDriver {
  readonly version = "v2" as const;
  readonly #fs: CgroupFs;
  readonly #mountpoint: string;
  readonly #own: string;

  constructor(opts: V2Options) {
    this.#fs = opts.fs;
    this.#mountpoint = opts.unified.mountpoint.replace(/\/$/, "");
    this.#own = opts.unified.own.replace(/\/$/, "");
  }

  /** The controllers our own cgroup gets from its parent, among those ctr uses. */
  get controllers(): readonly string[] {
    return this.#available(this.#own);
  }

  #available(dir: string): string[] {
    let have: string[];
    try {
      have = words(this.#fs.read(`${dir}/cgroup.controllers`));
    } catch {
      return [];
    }
    return V2_CONTROLLERS.filter((c) => have.includes(c));
  }

  open(id: string, paths: Readonly<Record<string, string>>, parents?: readonly string[]): Cgroup {
    const path = paths.unified;
    if (!path) throw new CgroupError(`No cgroup v2 path recorded for ${id}`, "ENOENT", id);
    return new V2Cgroup(this.#fs, id, path, this.#available(path), parents ?? [], undefined);
  }

  create(id: string, parent?: string): Cgroup {
    checkName("id", id);
    const fs = this.#fs;
    for (let attempt = 0;; attempt++) {
      const made: string[] = [];
      try {
        const b = parent === undefined ? this.#defaultBase(made) : this.#explicitBase(parent, made);
        const leaf = `${b.base}/${id}`;
        if (fs.mkdir(leaf)) {
          made.push(leaf);
        } else if (treePids(fs, leaf).length > 0) {
          throw new CgroupError(
            `Cannot create cgroup ${leaf}: it already exists and holds processes`,
            "EEXIST",
            leaf,
          );
        }
        const controllers = words(fs.read(`${leaf}/cgroup.controllers`));
        return new V2Cgroup(fs, id, leaf, controllers, b.parents, b.note);
      } catch (e) {
        for (const d of made.reverse()) rmdirIfUnused(fs, d);
        // A shared parent removed meanwhile by another container's cleanup.
        if ((e as CgroupError).code === "ENOENT" && attempt < 3) continue;
        throw e;
      }
    }
  }

  /**
   * Which placement of the module documentation the default takes, from
   * the files alone: below our own cgroup, unless it holds processes and
   * controllers would have to be enabled in it; then the `ctr` sibling,
   * unless our own cgroup is the top this namespace shows.
   */
  #choice(): "own" | "sibling" | "bare" {
    const own = this.#own;
    const on = new Set(words(this.#fs.read(`${own}/cgroup.subtree_control`)));
    const todo = this.#available(own).filter((c) => !on.has(c));
    if (todo.length === 0 || !holdsProcesses(this.#fs, own)) return "own";
    return own !== this.#mountpoint ? "sibling" : "bare";
  }

  #sibling(): string {
    return `${this.#own.slice(0, this.#own.lastIndexOf("/"))}/ctr`;
  }

  plan(id: string, parent?: string): CgroupPlan {
    checkName("id", id);
    if (parent !== undefined) {
      const leaf = `${placement(this.#mountpoint, this.#own, parent).base}/${id}`;
      return { paths: { unified: leaf }, dirs: [leaf] };
    }
    const own = `${this.#own}/ctr/${id}`;
    if (this.#choice() !== "sibling") return { paths: { unified: own }, dirs: [own] };
    // When the sibling cannot be made, create() falls back to our own cgroup.
    const sibling = `${this.#sibling()}/${id}`;
    return { paths: { unified: sibling }, dirs: [sibling, own] };
  }

  levels(): string[] {
    const own = `${this.#own}/ctr`;
    return this.#own !== this.#mountpoint ? [own, this.#sibling()] : [own];
  }

  /** The placement described in the module documentation. */
  #defaultBase(made: string[]): Base {
    const fs = this.#fs;
    const own = this.#own;
    const wanted = this.#available(own);
    const mk = (d: string) => {
      if (fs.mkdir(d)) made.push(d);
    };
    const choice = this.#choice();

    // 1. Below our own cgroup.
    if (choice === "own") {
      const refused = enableControllers(fs, own, wanted);
      const base = `${own}/ctr`;
      mk(base);
      for (const [c, e] of enableControllers(fs, base, wanted)) refused.set(c, e);
      return { base, parents: [base], note: refused.size ? describe(refused) : undefined };
    }

    // 2. Our own cgroup holds processes: a `ctr` sibling of it.
    let why = `${own} holds processes, and cgroup v2 lets no cgroup with processes ` +
      `enable controllers for its children (the no-internal-process rule)`;
    if (choice === "sibling") {
      const sibling = this.#sibling();
      try {
        mk(sibling);
        const failed = enableControllers(fs, sibling, wanted);
        return {
          base: sibling,
          parents: [sibling],
          note: failed.size ? describe(failed) : undefined,
        };
      } catch (e) {
        why += `; the sibling ${sibling} is not usable either: ${(e as Error).message}`;
      }
    } else {
      why += "; no parent cgroup is visible in this cgroup namespace";
    }

    // 3. Below our own cgroup, without controllers.
    const base = `${own}/ctr`;
    mk(base);
    return {
      base,
      parents: [base],
      note: `${why}. Start ctr from an empty leaf cgroup, or pass --cgroup-parent ` +
        `naming a cgroup without processes`,
    };
  }

  /** `--cgroup-parent`: each level made when missing, controllers enabled from the top down. */
  #explicitBase(parent: string, made: string[]): Base {
    const fs = this.#fs;
    const p = placement(this.#mountpoint, this.#own, parent);
    const wanted = this.#available(p.from);
    const refused = enableControllers(fs, p.from, wanted);
    let dir = p.from;
    for (const l of p.levels) {
      dir = `${dir}/${l}`;
      if (fs.mkdir(dir)) made.push(dir);
      for (const [c, e] of enableControllers(fs, dir, wanted)) refused.set(c, e);
    }
    return {
      base: dir,
      parents: [...made].reverse(),
      note: refused.size ? describe(refused) : undefined,
    };
  }
}

class V2Cgroup implements Cgroup {
  readonly paths: Readonly<Record<string, string>>;
  readonly parents: readonly string[];
  readonly #fs: CgroupFs;
  readonly #note?: string;

  constructor(
    fs: CgroupFs,
    readonly id: string,
    readonly path: string,
    readonly controllers: readonly string[],
    parents: readonly string[],
    note: string | undefined,
  ) {
    this.#fs = fs;
    this.parents = parents;
    this.#note = note;
    this.paths = { unified: path };
  }

  dir(controller: string): string | undefined {
    const c = controller === "blkio" ? "io" : controller;
    if (c === "unified" || this.controllers.includes(c)) return this.path;
    return undefined;
  }

  cloneTarget(): number | undefined {
    return this.#fs.openDir?.(this.path);
  }

  addProcess(pid: number): void {
    this.#fs.write(`${this.path}/cgroup.procs`, String(pid));
  }

  #need(controller: string, flag: string): string {
    if (this.controllers.includes(controller)) return this.path;
    throw new CgroupError(
      `Cannot apply ${flag}: the ${controller} controller is not enabled for ${this.path}${
        this.#note ? `: ${this.#note}` : ""
      }`,
      "",
      this.path,
    );
  }

  apply(l: Limits): void {
    const fs = this.#fs;
    const w = (dir: string, file: string, value: string | number) =>
      fs.write(`${dir}/${file}`, String(value));

    const weight = l.cpuWeight ??
      (l.cpuShares !== undefined ? sharesToWeight(l.cpuShares) : undefined);
    if (weight !== undefined) {
      w(
        this.#need("cpu", l.cpuWeight !== undefined ? "--cpu-weight" : "--cpu-shares"),
        "cpu.weight",
        weight,
      );
    }
    if (l.cpuQuota !== undefined) {
      const quota = l.cpuQuota < 0 ? "max" : l.cpuQuota;
      w(this.#need("cpu", "--cpus"), "cpu.max", `${quota} ${l.cpuPeriod ?? CPU_PERIOD}`);
    }

    if (l.cpusetCpus !== undefined) {
      w(this.#need("cpuset", "--cpuset-cpus"), "cpuset.cpus", l.cpusetCpus);
    }
    if (l.cpusetMems !== undefined) {
      w(this.#need("cpuset", "--cpuset-mems"), "cpuset.mems", l.cpusetMems);
    }

    if (l.memory !== undefined) w(this.#need("memory", "--memory"), "memory.max", l.memory);
    if (l.memory !== undefined || l.memorySwap !== undefined) this.#applySwap(l);
    if (l.memoryReservation !== undefined) {
      w(this.#need("memory", "--memory-reservation"), "memory.low", l.memoryReservation);
    }

    if (l.pidsLimit !== undefined) {
      w(this.#need("pids", "--pids-limit"), "pids.max", l.pidsLimit ?? "max");
    }

    for (const r of l.deviceReadBps ?? []) {
      w(this.#need("io", "--device-read-bps"), "io.max", `${r.major}:${r.minor} rbps=${r.rate}`);
    }
    for (const r of l.deviceWriteBps ?? []) {
      w(this.#need("io", "--device-write-bps"), "io.max", `${r.major}:${r.minor} wbps=${r.rate}`);
    }

    for (const r of l.deviceReadIops ?? []) {
      w(this.#need("io", "--device-read-iops"), "io.max", `${r.major}:${r.minor} riops=${r.rate}`);
    }
    for (const r of l.deviceWriteIops ?? []) {
      w(this.#need("io", "--device-write-iops"), "io.max", `${r.major}:${r.minor} wiops=${r.rate}`);
    }
    if (l.blkioWeight !== undefined || l.blkioWeightDevice?.length) this.#applyWeights(l);
    // What cgroup v2 has no file for is refused, rather than silently left out.
    const none = (flag: string, why: string) => {
      throw new CgroupError(`Cannot apply ${flag}: ${why}`, "", this.path);
    };
    if (l.cpuRtPeriod !== undefined || l.cpuRtRuntime !== undefined) {
      none("--cpu-rt-period/--cpu-rt-runtime", "cgroup v2 has no real-time group scheduling");
    }
    if (l.memorySwappiness !== undefined) {
      none("--memory-swappiness", "cgroup v2 has no per-cgroup swappiness");
    }
    if (l.oomKillDisable) {
      none("--oom-kill-disable", "cgroup v2 cannot turn the OOM killer off for a cgroup");
    }

    if (l.devices && !l.devices.allowAll) {
      // Docker's list plus --device, as a BPF program: v2 has no devices files.
      const rules = [...DEFAULT_DEVICE_RULES, ...l.devices.extra];
      if (this.#fs.attachDevices) this.#fs.attachDevices(this.path, rules);
      else this.#fs.write(`${this.path}/(device filter)`, `${rules.length} rules`);
    }
  }

  /**
   * io.weight (1..10000; docker's 10..1000 is written as it is) or, with BFQ,
   * io.bfq.weight; neither exists without a proportional scheduler.
   */
  #applyWeights(l: Limits): void {
    const fs = this.#fs;
    const d = this.#need("io", "--blkio-weight");
    // BFQ's weights are docker's 10..1000 as they are; io.weight's 1..10000 take runc's scaling.
    const file = fs.exists(`${d}/io.bfq.weight`)
      ? "io.bfq.weight"
      : fs.exists(`${d}/io.weight`)
      ? "io.weight"
      : undefined;
    if (!file) {
      throw new CgroupError(
        `Cannot apply --blkio-weight: ${d} has no io.weight or io.bfq.weight (no disk here uses a proportional I/O scheduler such as BFQ)`,
        "ENOENT",
        `${d}/io.weight`,
      );
    }
    const scale = (w: number) => file === "io.weight" ? 1 + Math.floor(((w - 10) * 9999) / 990) : w;
    if (l.blkioWeight !== undefined) {
      fs.write(`${d}/${file}`, `default ${scale(l.blkioWeight)}`);
    }
    for (const x of l.blkioWeightDevice ?? []) {
      fs.write(`${d}/${file}`, `${x.major}:${x.minor} ${scale(x.weight)}`);
    }
  }

  /** memory.swap.max counts swap alone (v1's memsw counted memory plus swap). */
  #applySwap(l: Limits): void {
    const fs = this.#fs;
    const d = this.#need("memory", "--memory-swap");
    const file = `${d}/memory.swap.max`;
    if (!fs.exists(file)) {
      if (l.memorySwap === undefined) return; // docker's default swap: nothing to account
      throw new CgroupError(
        `Cannot apply --memory-swap: ${file} is missing (the kernel does not account swap)`,
        "ENOENT",
        file,
      );
    }
    let swap: string;
    if (l.memorySwap === -1) {
      swap = "max";
    } else if (l.memorySwap !== undefined) {
      if (l.memory === undefined) {
        throw new CgroupError("Cannot apply --memory-swap without --memory", "", file);
      }
      swap = String(l.memorySwap - l.memory);
    } else {
      swap = String(l.memory); // docker: as much swap as memory
    }
    fs.write(file, swap);
  }

  stats(): CgroupStats {
    const fs = this.#fs;
    const dir = this.path;
    const num = (f: string) => Number(fs.read(`${dir}/${f}`).trim());
    const out: CgroupStats = {};
    const cpu = keyed(fs.read(`${dir}/cpu.stat`)).get("usage_usec");
    if (cpu !== undefined) out.cpu = { usageNs: cpu * 1000 };
    if (this.controllers.includes("memory")) {
      out.memory = {
        usage: num("memory.current"),
        limit: limitValue(fs.read(`${dir}/memory.max`)),
      };
      // memory.peak: Linux 5.19.
      if (fs.exists(`${dir}/memory.peak`)) out.memory.maxUsage = num("memory.peak");
    }
    if (this.controllers.includes("pids")) {
      out.pids = { current: num("pids.current"), limit: limitValue(fs.read(`${dir}/pids.max`)) };
    }
    if (this.controllers.includes("io")) {
      let readBytes = 0, writeBytes = 0;
      for (const line of fs.read(`${dir}/io.stat`).split("\n")) {
        for (const kv of words(line).slice(1)) {
          const [k, v] = kv.split("=");
          if (k === "rbytes") readBytes += Number(v);
          if (k === "wbytes") writeBytes += Number(v);
        }
      }
      out.io = { readBytes, writeBytes };
    }
    return out;
  }

  oomKilled(): boolean {
    if (!this.controllers.includes("memory")) return false;
    return (keyed(this.#fs.read(`${this.path}/memory.events`)).get("oom_kill") ?? 0) > 0;
  }

  freeze(): Promise<void> {
    return freezeUnified(this.#fs, this.path, true);
  }

  thaw(): Promise<void> {
    return freezeUnified(this.#fs, this.path, false);
  }

  async killAll(): Promise<void> {
    const fs = this.#fs;
    if (fs.exists(`${this.path}/cgroup.kill`)) return await killUnified(fs, this.path);
    // Before Linux 5.14: by pid, frozen meanwhile when cgroup.freeze exists (5.2).
    const canFreeze = fs.exists(`${this.path}/cgroup.freeze`);
    await killEach({
      pids: () => this.pids(),
      freeze: canFreeze ? () => this.freeze() : undefined,
      thaw: canFreeze ? () => this.thaw() : undefined,
      what: this.path,
    });
  }

  async destroy(): Promise<void> {
    await removeCgroupTree(this.#fs, this.path);
    for (const p of this.parents) rmdirIfUnused(this.#fs, p);
  }

  pids(): number[] {
    return treePids(this.#fs, this.path);
  }
}
