/**
 * What both cgroup drivers share: the file operations (real or a fixture),
 * the errors, the host's layout (v1, v2 or hybrid, from /proc/self/mountinfo
 * and /proc/self/cgroup), the Cgroup and CgroupDriver interfaces, and the
 * helpers the drivers use. Below v1.ts and v2.ts; mod.ts picks the driver.
 * @module
 */

import { O } from "../../ffi/constants.ts";
import { errno, errnoText } from "../../ffi/errno.ts";
import { open } from "../../ffi/sys.ts";
import { attachDeviceFilter } from "./device_bpf.ts";
import type { DeviceRule, Limits } from "./limits.ts";
import { sleep } from "../os/async.ts";

/** A failed cgroup file operation; the message names the file, the value and the errno. */
export class CgroupError extends Error {
  /** The errno name (`EINVAL`), or "" when the failure is not a system call's. */
  readonly code: string;
  /** The file or directory. */
  readonly path: string;

  constructor(message: string, code: string, path: string) {
    super(message);
    this.name = "CgroupError";
    this.code = code;
    this.path = path;
  }
}

/** The file operations the drivers use. cgroupfs directories are only ever removed with rmdir. */
export interface CgroupFs {
  /**
   * Loads and attaches a cgroup v2 device filter (BPF) allowing `rules` on
   * `dir`; absent in test fixtures, which then record the request instead.
   */
  attachDevices?(dir: string, rules: readonly DeviceRule[]): void;
  /** A file's text. */
  read(path: string): string;
  /** Writes `value` to an existing file in one write. */
  write(path: string, value: string): void;
  /** mkdir; false when the directory was already there. */
  mkdir(path: string): boolean;
  /** rmdir (never a recursive remove). */
  rmdir(path: string): void;
  /** Whether a path exists. */
  exists(path: string): boolean;
  /** An O_PATH descriptor of a directory; absent in test fixtures. */
  openDir?(path: string): number;
  /** The names of the subdirectories. */
  dirs(path: string): string[];
}

function fsError(action: string, path: string, e: unknown): CgroupError {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== "string" || !code.startsWith("E")) {
    return new CgroupError(`${action}: ${(e as Error).message}`, "", path);
  }
  let text: string;
  try {
    text = errnoText(errno(code));
  } catch {
    text = (e as Error).message.replace(/ \(os error \d+\).*$/, "");
  }
  return new CgroupError(`${action}: ${code} (${text})`, code, path);
}

/** The real filesystem. */
export const realCgroupFs: CgroupFs = {
  attachDevices: attachDeviceFilter,
  read(path) {
    try {
      return Deno.readTextFileSync(path);
    } catch (e) {
      throw fsError(`read ${path}`, path, e);
    }
  },
  write(path, value) {
    try {
      Deno.writeTextFileSync(path, value, { create: false });
    } catch (e) {
      throw fsError(`write ${value.trim()} to ${path}`, path, e);
    }
  },
  mkdir(path) {
    try {
      Deno.mkdirSync(path, { mode: 0o755 });
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === "EEXIST") return false;
      throw fsError(`mkdir ${path}`, path, e);
    }
  },
  rmdir(path) {
    try {
      // Not recursive: on a directory this is rmdir(2).
      Deno.removeSync(path);
    } catch (e) {
      throw fsError(`rmdir ${path}`, path, e);
    }
  },
  openDir(path) {
    return open(path, O.PATH | O.DIRECTORY | O.CLOEXEC);
  },
  exists(path) {
    try {
      Deno.lstatSync(path);
      return true;
    } catch {
      return false;
    }
  },
  dirs(path) {
    try {
      return [...Deno.readDirSync(path)].filter((e) => e.isDirectory).map((e) => e.name).sort();
    } catch (e) {
      throw fsError(`list ${path}`, path, e);
    }
  },
};

/** Usage figures of one cgroup; a part is absent when its controller is. */
export interface CgroupStats {
  /** CPU time of every task, in nanoseconds. */
  cpu?: { usageNs: number };
  /** Bytes in use, the limit (null: none) and the peak when the kernel keeps one. */
  memory?: { usage: number; limit: number | null; maxUsage?: number };
  /** Tasks now and the limit (null: none). */
  pids?: { current: number; limit: number | null };
  /** Bytes read from and written to block devices. */
  io?: { readBytes: number; writeBytes: number };
}

/** One container's cgroup, in every hierarchy it spans. */
export interface Cgroup {
  /** The container id it was made for. */
  readonly id: string;
  /** The main directory (v2: the only one; v1: the memory hierarchy's, else the first). */
  readonly path: string;
  /** Every directory, by hierarchy: `memory`, `cpu,cpuacct`, `unified`. */
  readonly paths: Readonly<Record<string, string>>;
  /** The controllers limits can use here (v2 names: cpu, cpuset, io, memory, pids). */
  readonly controllers: readonly string[];
  /** The directory that holds a controller's files (`io` and `blkio` are the same). */
  dir(controller: string): string | undefined;
  /** Moves a process (all its threads) in: cgroup.procs of every hierarchy. */
  addProcess(pid: number): void;
  /**
   * An O_PATH descriptor (owned by the caller) of the one directory a new
   * process can start in with clone3(CLONE_INTO_CGROUP), instead of being
   * moved in by addProcess. Undefined where that cannot replace addProcess:
   * v1 and hybrid hosts have a directory per hierarchy.
   */
  cloneTarget(): number | undefined;
  /** Writes the limits that are set in `limits`. */
  apply(limits: Limits): void;
  /** Current usage. */
  stats(): CgroupStats;
  /** Whether the kernel's OOM killer has killed a task of this cgroup. */
  oomKilled(): boolean;
  /** Stops every task; resolves once the kernel reports them frozen. */
  freeze(): Promise<void>;
  /** Lets them run again. */
  thaw(): Promise<void>;
  /** SIGKILLs every task, forks racing it included; resolves once none is left. */
  killAll(): Promise<void>;
  /**
   * Removes the directories, leaf first, with rmdir; waits briefly for exiting
   * tasks; then each of `parents` that is empty.
   */
  destroy(): Promise<void>;
  /**
   * The parent directories destroy() removes when they are left empty,
   * deepest first: the default `ctr` level, and the levels of an explicit
   * parent that create() made. A caller that records a container's cgroup
   * records these too and passes them back to open().
   */
  readonly parents: readonly string[];
  /** The processes in it and in its sub-cgroups. */
  pids(): number[];
}

/** Makes container cgroups on one host. */
export interface CgroupDriver {
  /** What the host has. */
  readonly version: "v1" | "v2" | "hybrid";
  /** Controllers available for limits (v2 names, v1's `devices` and `freezer` too). */
  readonly controllers: readonly string[];
  /**
   * Makes (or reuses, when empty) the cgroup of container `id`. `parent` is
   * `--cgroup-parent`: an absolute path is taken from the hierarchy's root, a
   * relative one from our own cgroup; by default it is `ctr` below our own.
   */
  create(id: string, parent?: string): Cgroup;
  /**
   * What create(id, parent) will make, worked out from the host's files
   * without changing anything, so that it can be recorded before it exists
   * (a ctr killed half-way through create() leaves nothing unrecorded).
   */
  plan(id: string, parent?: string): CgroupPlan;
  /**
   * The directories that hold containers' cgroups by default (`<own>/ctr` in
   * every hierarchy, and on v2 the `ctr` sibling too): where a sweep looks
   * for the cgroups of containers nobody recorded.
   */
  levels(): string[];
  /**
   * The cgroup of a container another ctr process made, from the `paths` it
   * recorded; destroy() on it removes the recorded `parents` that are empty
   * (none by default).
   */
  open(
    id: string,
    paths: Readonly<Record<string, string>>,
    parents?: readonly string[],
  ): Cgroup;
}

/** Where a container's cgroup will be, before it is made. */
export interface CgroupPlan {
  /** What Cgroup.paths will say: the directory in every hierarchy, by hierarchy name. */
  readonly paths: Readonly<Record<string, string>>;
  /**
   * Every leaf directory create() may make, fallbacks included (a v2 host
   * whose `ctr` sibling cannot be made falls back to `<own>/ctr`).
   */
  readonly dirs: readonly string[];
}

/** A cgroup filesystem mount from /proc/self/mountinfo. */
export interface CgroupMount {
  readonly type: "cgroup" | "cgroup2";
  /** Where it is mounted. */
  readonly mountpoint: string;
  /** Which cgroup of the hierarchy is at the mount point (`/` mostly). */
  readonly root: string;
  /** v1: its controllers and `name=` option; v2: none. */
  readonly controllers: readonly string[];
}

/** One line of /proc/self/cgroup. */
export interface ProcCgroup {
  readonly hierarchy: number;
  /** v1: the hierarchy's controllers (and `name=`); v2: none. */
  readonly controllers: readonly string[];
  /** Our cgroup in that hierarchy, from the cgroup namespace's root. */
  readonly path: string;
}

/** A v1 hierarchy that ctr uses. */
export interface V1Hierarchy {
  /** Its controllers joined by commas: `memory`, `cpu,cpuacct`. */
  readonly name: string;
  readonly controllers: readonly string[];
  readonly mountpoint: string;
  /** The directory of our own cgroup in it. */
  readonly own: string;
}

/** The cgroup2 hierarchy. */
export interface UnifiedHierarchy {
  readonly mountpoint: string;
  /** The directory of our own cgroup in it. */
  readonly own: string;
}

/** What detection found. */
export interface CgroupLayout {
  /** v1: no cgroup2 mount; v2: no v1 controllers; hybrid: both. */
  readonly version: "v1" | "v2" | "hybrid";
  /** The v1 hierarchies ctr joins. */
  readonly v1: readonly V1Hierarchy[];
  readonly unified?: UnifiedHierarchy;
}

/** Every v1 controller the kernel knows. */
const V1_CONTROLLERS = new Set([
  "cpu",
  "cpuacct",
  "cpuset",
  "memory",
  "devices",
  "freezer",
  "net_cls",
  "net_prio",
  "blkio",
  "perf_event",
  "hugetlb",
  "pids",
  "rdma",
  "misc",
]);

/** The v1 controllers ctr joins: limits, accounting, freezing. */
export const V1_USED: readonly string[] = [
  "cpu",
  "cpuacct",
  "cpuset",
  "memory",
  "devices",
  "freezer",
  "blkio",
  "pids",
];

const unescape = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The cgroup mounts in a mountinfo text (proc(5) format). */
export function parseMountinfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    const dash = f.indexOf("-");
    if (dash < 6 || f.length < dash + 4) continue;
    const type = f[dash + 1];
    if (type !== "cgroup" && type !== "cgroup2") continue;
    const controllers = type === "cgroup"
      ? f[dash + 3].split(",").filter((o) => V1_CONTROLLERS.has(o) || o.startsWith("name="))
      : [];
    out.push({ type, mountpoint: unescape(f[4]), root: unescape(f[3]), controllers });
  }
  return out;
}

/** The lines of /proc/self/cgroup. */
export function parseProcCgroup(text: string): ProcCgroup[] {
  const out: ProcCgroup[] = [];
  for (const line of text.split("\n")) {
    const a = line.indexOf(":");
    const b = line.indexOf(":", a + 1);
    if (a < 0 || b < 0) continue;
    const ctl = line.slice(a + 1, b);
    out.push({
      hierarchy: Number(line.slice(0, a)),
      controllers: ctl === "" ? [] : ctl.split(","),
      path: line.slice(b + 1),
    });
  }
  return out;
}

/**
 * The directory of cgroup `path` under a mount whose root is `m.root`, or
 * undefined when the mount does not show it (another namespace's view).
 */
function mapPath(m: CgroupMount, path: string): string | undefined {
  if (!path.startsWith("/") || path === "/.." || path.startsWith("/../")) return undefined;
  const root = m.root === "/" ? "" : m.root;
  if (root && path !== root && !path.startsWith(root + "/")) return undefined;
  const rel = path.slice(root.length);
  return m.mountpoint.replace(/\/$/, "") + (rel === "/" ? "" : rel);
}

const key = (c: readonly string[]) => [...c].sort().join(",");

/** Works out the layout from the texts of /proc/self/mountinfo and /proc/self/cgroup. */
export function cgroupLayout(mountinfo: string, procCgroup: string): CgroupLayout {
  const mounts = parseMountinfo(mountinfo);
  const lines = parseProcCgroup(procCgroup);
  const v1: V1Hierarchy[] = [];
  const seen = new Set<string>();
  for (const m of mounts) {
    if (m.type !== "cgroup" || !m.controllers.some((c) => V1_USED.includes(c))) continue;
    const k = key(m.controllers);
    if (seen.has(k)) continue;
    const line = lines.find((l) => l.hierarchy !== 0 && key(l.controllers) === k);
    const own = line && mapPath(m, line.path);
    if (own === undefined) continue;
    seen.add(k);
    const controllers = m.controllers.filter((c) => !c.startsWith("name="));
    v1.push({ name: controllers.join(","), controllers, mountpoint: m.mountpoint, own });
  }
  let unified: UnifiedHierarchy | undefined;
  const line2 = lines.find((l) => l.hierarchy === 0 && l.controllers.length === 0);
  for (const m of mounts) {
    if (m.type !== "cgroup2" || !line2) continue;
    const own = mapPath(m, line2.path);
    if (own !== undefined) {
      unified = { mountpoint: m.mountpoint, own };
      break;
    }
  }
  if (v1.length === 0 && !unified) {
    throw new CgroupError(
      "No cgroup filesystem shows our own cgroup: /proc/self/mountinfo has no usable cgroup or cgroup2 mount",
      "",
      "/proc/self/mountinfo",
    );
  }
  const version = v1.length === 0 ? "v2" : unified ? "hybrid" : "v1";
  return { version, v1, unified };
}

/**
 * Writes a process's oom_score_adj (`--oom-score-adj`); the parent does this
 * at sync phase 0, before the container's process drops its privileges.
 */
export function setOomScoreAdj(pid: number, value: number, fs: CgroupFs = realCgroupFs): void {
  if (!Number.isInteger(value) || value < -1000 || value > 1000) {
    throw new RangeError(`oom_score_adj ${value}: expected a whole number from -1000 to 1000`);
  }
  fs.write(`/proc/${pid}/oom_score_adj`, String(value));
}

// Helpers shared by the drivers.

/** The numbers of a flat keyed file (`key value` lines): memory.events, cgroup.events, cpu.stat. */
export function keyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out.set(k, Number(v));
  }
  return out;
}

/** A limit file's value: `max` (v2) or v1's huge "unlimited" numbers become null. */
export function limitValue(text: string): number | null {
  const t = text.trim();
  if (t === "max" || t === "-1") return null;
  const n = Number(t);
  return n >= 2 ** 62 ? null : n;
}

/** The pids of a cgroup.procs text. */
export function procsOf(text: string): number[] {
  return text.split("\n").filter((l) => l.trim() !== "").map(Number);
}

/** Checks a container id or parent path component: no slashes, no dot-dot. */
export function checkName(what: string, name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(name) || name.length > 255) {
    throw new CgroupError(`Invalid cgroup ${what}: ${JSON.stringify(name)}`, "", name);
  }
}

/**
 * Where a container's cgroup goes in one hierarchy: the directory that will
 * hold `<id>`, and the directories between `from` and it (from the top) that
 * may need creating.
 */
export function placement(
  mountpoint: string,
  own: string,
  parent: string | undefined,
): { base: string; from: string; levels: string[] } {
  const p = parent ?? "ctr";
  const parts = p.split("/").filter((s) => s !== "" && s !== ".");
  for (const s of parts) checkName("parent", s);
  // "/" is the hierarchy's root itself, "." our own cgroup (an OCI cgroupsPath of one level).
  if (parts.length === 0 && p !== "/" && p !== ".") {
    throw new CgroupError(`Invalid cgroup parent: "${p}"`, "", p);
  }
  const from = p.startsWith("/") ? mountpoint.replace(/\/$/, "") : own;
  return { base: [from, ...parts].join("/"), from, levels: parts };
}

/** rmdir, ignoring a directory that is gone, busy or not empty (another container's parent). */
export function rmdirIfUnused(fs: CgroupFs, dir: string): boolean {
  try {
    fs.rmdir(dir);
    return true;
  } catch (e) {
    const code = (e as CgroupError).code;
    if (code === "ENOENT" || code === "EBUSY" || code === "ENOTEMPTY") return false;
    throw e;
  }
}

/**
 * Removes a cgroup directory and any cgroups below it, deepest first, with
 * rmdir only; EBUSY (tasks still exiting) is retried for `timeoutMs`.
 */
export async function removeCgroupTree(fs: CgroupFs, dir: string, timeoutMs = 3000) {
  const end = Date.now() + timeoutMs;
  // A container's cgroup seldom has cgroups below it: an rmdir first, and its children only
  // when it says EBUSY (children, or tasks still on their way out).
  let children: string[] | undefined;
  for (let delay = 2;; delay = Math.min(delay * 2, 100)) {
    try {
      fs.rmdir(dir);
      return;
    } catch (e) {
      const code = (e as CgroupError).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || Date.now() > end) throw e;
    }
    if (children === undefined) {
      try {
        children = fs.dirs(dir);
      } catch (e) {
        if ((e as CgroupError).code === "ENOENT") return;
        throw e;
      }
      for (const c of children) await removeCgroupTree(fs, `${dir}/${c}`, timeoutMs);
      if (children.length > 0) continue; // again at once: the children were what held it
    }
    await sleep(delay);
  }
}

/** The pids in `dir`'s cgroup.procs and in every cgroup below it. */
export function treePids(fs: CgroupFs, dir: string): number[] {
  let own: number[];
  try {
    own = procsOf(fs.read(`${dir}/cgroup.procs`));
  } catch (e) {
    if ((e as CgroupError).code === "ENOENT") return [];
    throw e;
  }
  let children: string[] = [];
  try {
    children = fs.dirs(dir);
  } catch { /* removed meanwhile */ }
  return [...own, ...children.flatMap((c) => treePids(fs, `${dir}/${c}`))];
}

/** Polls `done` until true; throws `what` after `timeoutMs`. */
export async function waitUntil(
  done: () => boolean,
  what: () => string,
  timeoutMs = 5000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (let delay = 1; !done(); delay = Math.min(delay * 2, 50)) {
    if (Date.now() > end) throw new CgroupError(what(), "ETIMEDOUT", "");
    await sleep(delay);
  }
}

/**
 * Kills every task by pid without an atomic kill: freeze (so nothing forks
 * between reading the list and the kills), SIGKILL each pid, thaw (a v1-frozen
 * task only dies once thawed), and again until the cgroup is empty.
 */
export async function killEach(opts: {
  readonly pids: () => number[];
  readonly freeze?: () => Promise<void>;
  readonly thaw?: () => Promise<void>;
  readonly what: string;
  readonly timeoutMs?: number;
}): Promise<void> {
  const end = Date.now() + (opts.timeoutMs ?? 10000);
  for (let delay = 2;; delay = Math.min(delay * 2, 100)) {
    if (opts.pids().length === 0) return;
    let frozen = false;
    if (opts.freeze) {
      try {
        await opts.freeze();
        frozen = true;
      } catch { /* a task stuck in the kernel: kill what can be killed */ }
    }
    for (const pid of opts.pids()) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone already */ }
    }
    if (frozen) await opts.thaw!();
    await sleep(delay);
    if (opts.pids().length === 0) return;
    if (Date.now() > end) {
      throw new CgroupError(
        `Cannot kill every task of ${opts.what}: ${opts.pids().join(" ")} still there`,
        "ETIMEDOUT",
        opts.what,
      );
    }
  }
}

/**
 * Removes the shared `ctr` level above a container's cgroups when the
 * container was the last one in it (rmdir fails on a level still in use).
 */
export function removeCtrLevel(paths: Readonly<Record<string, string>>): void {
  for (const p of Object.values(paths)) {
    const parent = p.slice(0, p.lastIndexOf("/"));
    if (!parent.endsWith("/ctr")) continue;
    try {
      Deno.removeSync(parent);
    } catch { /* still used by other containers */ }
  }
}
