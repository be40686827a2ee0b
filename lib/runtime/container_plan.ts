/**
 * The whole plan of a container's first process, from its config and the
 * host's facts: the cgroup namespace, the user namespace's root, joined
 * namespaces, the root filesystem, lo, and the process itself. Pure: the
 * same config and host give the same plan (tests compare it with fixtures).
 * @module
 */

import { CLONE, O } from "../../ffi/constants.ts";
import type { ContainerConfig } from "../config/container.ts";
import { validateConfig } from "../config/validate.ts";
import { RunError } from "./errors.ts";
import type { PlanHost } from "./host.ts";
import { NS_TYPES } from "./namespaces.ts";
import { formatPlan, type Plan, slot, type Step, syncPoint, validate } from "./plan.ts";
import { processSteps } from "./process.ts";
import { RootfsBuilder } from "./rootfs.ts";
import { cloneFlagNames } from "./spawn.ts";
import { setgroupsAllowed, withoutSetgroups } from "./userns.ts";
import {
  becomeRoot,
  closeFd,
  joinNamespace,
  loopbackUp,
  NS_FLAG,
  nsFlagName,
  openAt,
} from "./steps.ts";

/** Sync phase 0: right after clone, the parent writes id maps and joins the cgroup. */
export const PHASE_START = 0;

/**
 * The start phase of a container forked by its watcher-to-be (launchDetached):
 * the child says it is there (its pid is the parent's only then), then waits
 * for the same work as at phase 0.
 */
export const PHASE_FORKED = 5;

/** The plan of a container. */
export function containerPlan(
  cfg: ContainerConfig,
  host: PlanHost,
  opts: {
    startPhase?: number;
    /** Fds of idmapped mounts of the layers, inherited by the child (runtime/idmount.ts). */
    idmappedLowers?: readonly number[];
  } = {},
): Plan {
  const invalid = validateConfig(cfg);
  if (invalid.length) {
    throw new RunError(`Invalid container configuration: ${invalid.join("; ")}`, 125);
  }
  let cloneFlags = 0;
  const joins: Step[] = [];
  for (const t of NS_TYPES) {
    const m = cfg.namespaces[t];
    // The cgroup namespace is made after the parent has moved the child into its
    // cgroup (below), so that cgroup is its root.
    if (m.kind === "new" && t !== "cgroup") cloneFlags |= NS_FLAG[t];
    if (m.kind === "path") {
      if (t === "user" || t === "mnt" || t === "pid") {
        throw new RunError(`Joining a ${t} namespace by path is not supported by run`, 125);
      }
      // The child opens the file itself (it still sees the host's mounts), joins, closes.
      const fd = slot(`${t}_ns`);
      joins.push(
        openAt(m.path, O.RDONLY | O.CLOEXEC, fd, `open the ${t} namespace ${m.path}`, {
          ENOENT: "the namespace file is gone (the process exited, or nothing is pinned there)",
        }),
        joinNamespace({ ref: fd }, t, m.path),
        closeFd({ ref: fd }, `close the ${t} namespace file`),
      );
    }
  }
  const userns = cfg.namespaces.user.kind === "new";
  const rootfs = new RootfsBuilder(cfg, {
    userns,
    netns: cfg.namespaces.net.kind === "new",
    kindOf: host.kindOf,
    cgroups: host.cgroups,
    idmappedLowers: opts.idmappedLowers,
  });
  const steps: Step[] = [
    closeFd({ fd: "syncWrite" }, "close the parent's end of the sync pipe"),
    // An OCI container keeps a read end itself: after `create` has exited, a failed exec
    // still writes its record (and exits 127) instead of dying of SIGPIPE.
    ...(cfg.oci?.gateFd !== undefined
      ? []
      : [closeFd({ fd: "errRead" }, "close the parent's end of the error pipe")]),
    ...syncPoint(opts.startPhase ?? PHASE_START, "uid/gid maps and cgroups"),
    ...joins,
    ...(cfg.namespaces.cgroup.kind === "new"
      ? [{
        call: "unshare" as const,
        args: [{ int: NS_FLAG.cgroup, show: nsFlagName("cgroup") }],
        label: "enter a new cgroup namespace rooted at the container's cgroup",
      }]
      : []),
    ...(userns ? becomeRoot() : []),
    ...rootfs.build(),
  ];
  if (cfg.namespaces.net.kind === "new") steps.push(...loopbackUp());
  steps.push(...processSteps(cfg, host));
  // An unprivileged writer maps a single gid only with setgroups denied: the
  // container keeps the supplementary groups it has (the kernel shows them as nogroup).
  const noSetgroups = userns && host.unprivileged && !setgroupsAllowed(cfg.gidMap);
  const plan = { cloneFlags, steps: noSetgroups ? withoutSetgroups(steps) : steps };
  const problems = validate(plan);
  if (problems.length) throw new Error(`Invalid plan:\n${problems.join("\n")}`);
  return plan;
}

/** A plan as `--dry-run` prints it. */
export function showPlan(plan: Plan): string {
  return formatPlan(plan, cloneFlagNames(plan.cloneFlags | CLONE.VM | CLONE.PIDFD) + "|SIGCHLD");
}
