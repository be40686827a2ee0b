/**
 * Pruning: docker's `container prune` (every stopped container), and the
 * sweep of what ctr processes killed at the wrong moment (or older ctr
 * versions) left behind with no record at all, which `system prune` adds to
 * docker's list.
 *
 * A container names everything it makes in its state record before making
 * it, so `rm -f` of a recorded container finds all of it. What the sweep
 * looks for is what has no record: ctr-owned objects named with a container
 * id that this state directory does not know, and that no live container
 * can be using:
 *
 * - cgroups named with a 64-hex id in ctr's `ctr/` level of every hierarchy,
 *   holding no process, older than a grace period (another ctr with another
 *   state directory may be setting that container up this very moment);
 * - container directories under ROOT/containers whose container has no
 *   cgroup left (never through a mount: removeTree checks mountinfo);
 * - leases whose owner is gone, and the veths (`veth` + 8 hex [-k], on a ctr
 *   bridge) and packet filter rules (`ctr:<id>[-k]`) of ids that have no record
 *   here and no cgroup anywhere (every live container has one);
 * - temporary files of writers that died between write and rename.
 *
 * A candidate in the state directory's domain is checked again under the
 * state lock before it goes: a container being set up has its record first.
 * @module
 */

import { hostCgroupLayout, openCgroupDriver } from "../cgroups/mod.ts";
import { type CgroupLayout, realCgroupFs, removeCgroupTree, treePids } from "../cgroups/_common.ts";
import { sweepTemp } from "../os/atomic.ts";
import { removeTree } from "../os/tree.ts";
import { StateDir } from "./state.ts";
import { liveStatus, reconcile, removeContainer } from "./lifecycle.ts";
import { treeSize } from "../os/tree.ts";
import { commentContainer } from "../network/names.ts";

/** docker's prune filters: `until=TIME`, `label=K[=V]`, `label!=K[=V]`. */
export interface PruneFilter {
  /** Only what was created before this time (ms since the epoch). */
  readonly until?: number;
  /** Label conditions; all must hold. */
  readonly labels: readonly LabelCondition[];
}

/** One `label=` or `label!=` filter. */
export interface LabelCondition {
  readonly key: string;
  readonly value?: string;
  /** `label!=`: the label (with that value) must be absent. */
  readonly negate: boolean;
}

const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * A time as docker's `until` takes it: a Go duration before `now` (`10m`,
 * `1h30m`), Unix seconds (`1700000000.5`), or an RFC 3339 date or time.
 */
export function parseUntil(v: string, now = Date.now()): number {
  if (GO_DURATION.test(v)) {
    let ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
      ms += Number(m[1]) * UNIT_MS[m[2]];
    }
    return now - ms;
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || isNaN(t)) {
    throw new Error(
      `invalid until ${
        JSON.stringify(v)
      }: expected a duration (10m, 1h30m), Unix seconds or an RFC 3339 time`,
    );
  }
  return t;
}

/** Parses `--filter` values (throws on an unknown or malformed one). */
export function parsePruneFilters(values: readonly string[], now = Date.now()): PruneFilter {
  let until: number | undefined;
  const labels: LabelCondition[] = [];
  for (const f of values) {
    const m = /^(until|label!?)=(.*)$/.exec(f);
    if (!m) {
      throw new Error(
        `invalid filter ${
          JSON.stringify(f)
        }: expected until=TIME, label=KEY[=VALUE] or label!=KEY[=VALUE]`,
      );
    }
    if (m[1] === "until") {
      until = parseUntil(m[2], now);
      continue;
    }
    const eq = m[2].indexOf("=");
    const key = eq < 0 ? m[2] : m[2].slice(0, eq);
    if (key === "") throw new Error(`invalid filter ${JSON.stringify(f)}: the label has no key`);
    labels.push({ key, value: eq < 0 ? undefined : m[2].slice(eq + 1), negate: m[1] === "label!" });
  }
  return { until, labels };
}

/** Whether an object created at `created` with `labels` passes the filter. */
export function passes(
  f: PruneFilter,
  created: string | undefined,
  labels: Readonly<Record<string, string>> = {},
): boolean {
  if (f.until !== undefined) {
    const t = created ? Date.parse(created) : NaN;
    if (isNaN(t) || t >= f.until) return false;
  }
  return f.labels.every((c) => {
    const has = c.key in labels && (c.value === undefined || labels[c.key] === c.value);
    return c.negate ? !has : has;
  });
}

/** What a prune removed. */
export interface ContainerPruneResult {
  /** Full ids, as docker prints them. */
  readonly deleted: string[];
  /** Bytes their upper layers held. */
  readonly bytes: number;
  /** One line per container that could not be removed. */
  readonly errors: string[];
}

/**
 * `container prune`: removes every stopped container that passes the
 * filter. A start killed half-way ("created", nobody starting it any more)
 * and one made by `create` and never started count as stopped; a container
 * being started (its starter recorded as its watcher) does not.
 */
export async function pruneContainers(
  dir: StateDir,
  filter: PruneFilter = { labels: [] },
): Promise<ContainerPruneResult> {
  const deleted: string[] = [];
  const errors: string[] = [];
  let bytes = 0;
  for (const s of await reconcile(dir)) {
    // Made by `create` and never started (no starter recorded) is stopped too, as docker has it.
    const st = liveStatus(s);
    const stopped = st === "exited" || (st === "created" && s.watcher === undefined);
    if (!stopped || !passes(filter, s.created, s.labels)) continue;
    let size = 0;
    try {
      size = treeSize(`${s.dir}/upper`);
    } catch { /* unreadable: counted as nothing */ }
    try {
      await removeContainer(dir, s, false);
      deleted.push(s.id);
      bytes += size;
    } catch (e) {
      errors.push(`${s.name}: ${(e as Error).message}`);
    }
  }
  return { deleted, bytes, errors };
}

/** Something the sweep removed: its kind and its name (a path, a link, a rule's comment). */
export interface Leftover {
  readonly kind:
    | "cgroup"
    | "container directory"
    | "exit record"
    | "lease"
    | "rules"
    | "veth"
    | "temporary file";
  readonly name: string;
}

/** Where the sweep looks. */
export interface SweepOptions {
  /** ctr's --root (container directories, network records). */
  readonly root: string;
  /** ctr's --state-dir (records, leases). */
  readonly stateDir: string;
  /** How old an unrecorded empty cgroup must be to go (default ORPHAN_CGROUP_AGE_MS). */
  readonly cgroupAgeMs?: number;
}

/**
 * How old an empty cgroup with no record must be before the sweep removes
 * it: setting a container up takes milliseconds between its cgroup's mkdir
 * and the first process in it, so a minute is far beyond any start.
 */
export const ORPHAN_CGROUP_AGE_MS = 60_000;

const ID = /^[0-9a-f]{64}$/;

/** What the sweep did, and what it could not do. */
export interface SweepResult {
  readonly removed: Leftover[];
  readonly errors: string[];
}

/** Removes what crashed ctr processes left with no record (see the module doc). */
export async function sweepOrphans(o: SweepOptions): Promise<SweepResult> {
  const state = new StateDir(o.stateDir);
  const removed: Leftover[] = [];
  const errors: string[] = [];
  const note = (what: string, e: unknown) => errors.push(`${what}: ${(e as Error).message}`);

  for (const d of [o.stateDir, `${o.stateDir}/networks`, o.root]) {
    for (const f of sweepTemp(d)) removed.push({ kind: "temporary file", name: f });
  }
  // An exit record a watcher wrote after its container was removed.
  for (const e of safeList(o.stateDir)) {
    const m = /^([0-9a-f]{64})\.exit$/.exec(e.name);
    if (!m) continue;
    await state.locked(() => {
      if (state.get(m[1]) !== undefined) return;
      state.remove(m[1]);
      removed.push({ kind: "exit record", name: `${o.stateDir}/${e.name}` });
    });
  }

  // The record is written before anything else, under the lock: no record under the lock
  // means no container will claim this object. Says whether it ran `fn`.
  const unrecorded: Unrecorded = async (id, fn) =>
    await state.locked(async () => {
      if (state.get(id) !== undefined) return false;
      await fn();
      return true;
    });
  const recorded = () => state.list().map((s) => s.id);

  const layout = hostCgroupLayout();
  if (layout) {
    const age = o.cgroupAgeMs ?? ORPHAN_CGROUP_AGE_MS;
    await sweepCgroups(layout, age, unrecorded, removed, note);
  }
  // Any container alive anywhere (any state directory) has a cgroup named by its id.
  const cgroupNames = layout ? allCgroupNames(layout) : undefined;
  await sweepDirectories(o.root, (id) => !cgroupNames?.has(id), unrecorded, removed, note);

  let net: typeof import("../network/mod.ts");
  try {
    net = await import("../network/mod.ts");
  } catch (e) {
    note("network", e);
    return { removed, errors };
  }
  const store = new net.NetworkStore({ root: o.root, stateDir: o.stateDir });
  const nat = new net.Nat({ stateDir: o.stateDir });
  // Ids that are certainly gone: their lease's owner is dead and nothing records them.
  const dead = new Set<string>();
  const ids = new Set(recorded());
  for (const network of store.list()) {
    try {
      const gone = await store.leases(network).update((list) => {
        const out = list.filter((l) => !ids.has(l.containerId) && !net.ownerAlive(l));
        list.splice(0, list.length, ...list.filter((l) => !out.includes(l)));
        return out;
      });
      for (const l of gone) {
        dead.add(l.containerId);
        removed.push({ kind: "lease", name: `${l.ip} (${network.name})` });
      }
    } catch (e) {
      note(`leases of ${network.name}`, e);
    }
  }
  const unknown = (id: string) =>
    dead.has(id) ||
    (cgroupNames !== undefined && !ids.has(id) && !cgroupNames.has(id));
  let rules: { comment?: string }[] = [];
  try {
    rules = await nat.list();
  } catch (e) {
    note("packet filter rules", e);
  }
  const tagged = new Set(
    rules.map((r) => commentContainer(r.comment) ?? "").filter((id) => ID.test(id)),
  );
  for (const id of [...tagged].filter(unknown)) {
    await unrecorded(id, () => nat.remove(id)).then(
      (done) => done && removed.push({ kind: "rules", name: `ctr:${id}` }),
      (e) => note(`rules of ${id.slice(0, 12)}`, e),
    );
  }
  try {
    await sweepVeths(net, (prefix) => {
      const match = (id: string) => id.startsWith(prefix);
      if ([...dead].some(match)) return true;
      if (cgroupNames === undefined || recorded().some(match)) return false;
      return ![...cgroupNames].some(match);
    }, removed);
  } catch (e) {
    note("veths", e);
  }
  return { removed, errors };
}

function safeList(dir: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(dir)];
  } catch {
    return [];
  }
}

type Unrecorded = (id: string, fn: () => Promise<void> | void) => Promise<boolean>;
type Note = (what: string, e: unknown) => void;

/** Empty, old cgroups with a container id and no record, in ctr's levels of every hierarchy. */
async function sweepCgroups(
  layout: CgroupLayout,
  ageMs: number,
  unrecorded: Unrecorded,
  removed: Leftover[],
  note: Note,
): Promise<void> {
  const driver = openCgroupDriver({ layout });
  for (const level of driver.levels()) {
    let names: string[];
    try {
      names = realCgroupFs.dirs(level);
    } catch {
      continue; // no level: nothing below
    }
    for (const id of names.filter((n) => ID.test(n))) {
      const dir = `${level}/${id}`;
      let mtime: number;
      try {
        mtime = Deno.statSync(dir).mtime?.getTime() ?? 0;
      } catch {
        continue; // removed meanwhile
      }
      if (Date.now() - mtime < ageMs || treePids(realCgroupFs, dir).length > 0) continue;
      await unrecorded(id, () => removeCgroupTree(realCgroupFs, dir)).then(
        (done) => done && removed.push({ kind: "cgroup", name: dir }),
        (e) => note(`cgroup ${dir}`, e),
      );
    }
    try {
      realCgroupFs.rmdir(level); // the shared level goes when nothing is left in it
    } catch { /* in use */ }
  }
}

/**
 * Container directories in the store that nothing records and whose
 * container has no cgroup left (`gone`), never through a mount.
 */
async function sweepDirectories(
  root: string,
  gone: (id: string) => boolean,
  unrecorded: Unrecorded,
  removed: Leftover[],
  note: Note,
): Promise<void> {
  const entries = safeList(`${root}/containers`);
  for (const e of entries.filter((e) => e.isDirectory && ID.test(e.name) && gone(e.name))) {
    const dir = `${root}/containers/${e.name}`;
    await unrecorded(e.name, () => removeTree(dir)).then(
      (done) => done && removed.push({ kind: "container directory", name: dir }),
      (err) => note(dir, err),
    );
  }
}

/**
 * Deletes ctr's veths (`veth` + 8 hex, and `-k` for a further network, on a
 * ctr bridge) whose container `gone` says is gone.
 */
async function sweepVeths(
  net: typeof import("../network/mod.ts"),
  gone: (prefix: string) => boolean,
  removed: Leftover[],
): Promise<void> {
  const { Rtnl } = await import("../network/link.ts");
  using rtnl = Rtnl.open();
  for (const l of rtnl.listLinks()) {
    const m = /^veth([0-9a-f]{8})(?:-\d{1,2})?$/.exec(l.name);
    if (!m || l.kind !== "veth" || !l.master?.startsWith(net.BRIDGE_PREFIX)) continue;
    if (!gone(m[1])) continue;
    try {
      rtnl.deleteLink(l.name);
      removed.push({ kind: "veth", name: l.name });
    } catch { /* gone with its namespace meanwhile */ }
  }
}

/** The names of every cgroup in one hierarchy every container joins (the first ctr uses). */
function allCgroupNames(layout: CgroupLayout): Set<string> {
  const top = layout.v1[0]?.mountpoint ?? layout.unified?.mountpoint;
  const names = new Set<string>();
  const walk = (d: string, depth: number) => {
    if (depth > 16) return;
    let sub: string[];
    try {
      sub = realCgroupFs.dirs(d);
    } catch {
      return;
    }
    for (const n of sub) {
      names.add(n);
      walk(`${d}/${n}`, depth + 1);
    }
  };
  if (top) walk(top, 0);
  return names;
}
