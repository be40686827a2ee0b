/**
 * Control groups: which cgroup filesystems this host has (v1, v2 or hybrid,
 * read from /proc/self/mountinfo and /proc/self/cgroup at run time), where a
 * container's cgroup goes, and one interface over both drivers.
 *
 * Placement: a container's cgroup goes below the invoking process's own cgroup
 * in each hierarchy, as `<own>/ctr/<id>`, never above it. On a hybrid host
 * (v1 controllers, plus a cgroup2 mount without them) the v1 hierarchies carry
 * the limits and the container also joins the cgroup2 hierarchy at
 * `<own>/ctr/<id>` when it can, for `cgroup.kill`. On cgroup v2 the
 * no-internal-process rule can force a sibling of our own cgroup instead: see
 * v2.ts.
 *
 * The parent calls the driver while the child waits at sync phase 0:
 *
 *     const driver = openCgroupDriver();          // once
 *     record(driver.plan(id).paths);              // in the state, before anything exists
 *     const cg = driver.create(id);               // before spawn
 *     cg.apply(limits);
 *     spawn(plan, (phase, pid) => {
 *       if (phase === 0) { cg.addProcess(pid); setOomScoreAdj(pid, n); }
 *     });
 *     ... wait ...; cg.oomKilled(); await cg.killAll(); await cg.destroy();
 *
 * Every file access goes through a {@linkcode CgroupFs}, so tests run the
 * drivers against a temporary directory that looks like cgroupfs.
 * @module
 */

import {
  type CgroupDriver,
  type CgroupFs,
  type CgroupLayout,
  cgroupLayout,
  realCgroupFs,
} from "./_common.ts";
import { V1Driver } from "./v1.ts";
import { V2Driver } from "./v2.ts";

export * from "./limits.ts";
export * from "./_common.ts";
export { V1Driver } from "./v1.ts";
export { V2Driver } from "./v2.ts";

/** Options of {@linkcode openCgroupDriver}. */
export interface DriverOptions {
  /** The file operations (tests pass a fixture). */
  readonly fs?: CgroupFs;
  /** The layout; detected from /proc/self when absent. */
  readonly layout?: CgroupLayout;
}

/** The driver for this host: v2, or v1 (hybrid too). */
export function openCgroupDriver(opts: DriverOptions = {}): CgroupDriver {
  const fs = opts.fs ?? realCgroupFs;
  const layout = opts.layout ?? readHostLayout();
  if (layout.version === "v2") return new V2Driver({ fs, unified: layout.unified! });
  return new V1Driver({ fs, hierarchies: layout.v1, unified: layout.unified });
}

/**
 * The host's layout, read once per process: its cgroup filesystems and ctr's
 * own cgroup stay where they are while a ctr runs, and a server reopens the
 * cgroup of every container that ends. Throws when there is no cgroup
 * filesystem (and reads again next time).
 */
let hostLayout: CgroupLayout | undefined;
function readHostLayout(): CgroupLayout {
  return hostLayout ??= cgroupLayout(
    realCgroupFs.read("/proc/self/mountinfo"),
    realCgroupFs.read("/proc/self/cgroup"),
  );
}

/** The host's cgroup layout, or undefined when it has no cgroup filesystem. */
export function hostCgroupLayout(): CgroupLayout | undefined {
  try {
    return readHostLayout();
  } catch {
    return undefined;
  }
}
