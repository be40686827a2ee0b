/**
 * The whole plan of a container's first process, from its config and the
 * host's facts: the cgroup namespace, the user namespace's root, joined
 * namespaces, the root filesystem, lo, and the process itself. Pure: the
 * same config and host give the same plan (tests compare it with fixtures).
 *
 * Most containers take their new namespaces from clone() itself. A container
 * that joins a pid, user or mount namespace by path, or that joins any
 * namespace while making its own user namespace, needs another order, the
 * one runc's nsexec follows: join first (the user namespace first, so the
 * rest are joined with its rights), then make the user namespace (and have
 * its id maps written), then the other new namespaces with unshare(), then
 * fork: setns and unshare give a pid namespace to children only, so the
 * container's process is that child, and the cloned one exits.
 * @module
 */

import { CLONE, O } from "../../ffi/constants.ts";
import type { ContainerConfig, NsType } from "../config/container.ts";
import { validateConfig } from "../config/validate.ts";
import { RunError } from "./errors.ts";
import type { PlanHost } from "./host.ts";
import { NS_TYPES } from "./namespaces.ts";
import { formatPlan, int, type Plan, slot, type Step, syncPoint, validate } from "./plan.ts";
import { processSteps } from "./process.ts";
import { RootfsBuilder } from "./rootfs.ts";
import { cloneFlagNames } from "./spawn.ts";
import { setgroupsAllowed, withoutSetgroups } from "./userns.ts";
import {
  becomeRoot,
  closeFd,
  forkAndHandOver,
  joinNamespace,
  loopbackUp,
  NS_FLAG,
  nsFlagName,
  openAt,
} from "./steps.ts";

/** Sync phase 0: right after clone, the parent writes id maps and joins the cgroup. */
export const PHASE_START = 0;

/** Sync phase of a plan that makes its user namespace after joining others: the id maps. */
export const PHASE_ID_MAPS = 7;

/** Sync phase at which the forked container process takes the plan over (see the module doc). */
export const PHASE_HANDOVER = 8;

/** Whether a config needs the join-first order described in the module documentation. */
export function joinsFirst(cfg: Pick<ContainerConfig, "namespaces">): boolean {
  const ns = cfg.namespaces;
  const joined = NS_TYPES.filter((t) => ns[t].kind === "path");
  return joined.some((t) => t === "pid" || t === "user" || t === "mnt") ||
    (joined.length > 0 && ns.user.kind === "new");
}

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
  const staged = joinsFirst(cfg);
  if (staged && cfg.network.name !== undefined) {
    // The network is attached at phase 0, before the staged plan has made its namespace.
    throw new RunError(
      "Cannot join a network while joining a pid, user or mount namespace by path",
      125,
    );
  }
  if (staged && opts.startPhase !== undefined) {
    // A detached container's parent is its watcher: a sibling forked by CLONE_PARENT would
    // be the watcher's child while the process it watches exits.
    throw new RunError(
      "Cannot run detached while joining a pid, user or mount namespace by path",
      125,
    );
  }
  const ns = cfg.namespaces;
  const userns = ns.user.kind !== "host";
  const rootfs = new RootfsBuilder(cfg, {
    userns,
    netns: ns.net.kind === "new",
    kindOf: host.kindOf,
    cgroups: host.cgroups,
    idmappedLowers: opts.idmappedLowers,
  });
  // Forked by its watcher-to-be, the child finds the parent's ends closed already (see
  // detachedPlan: the watcher must not hold them either, or a dead ctr would go unnoticed).
  const forked = opts.startPhase === PHASE_FORKED;
  const steps: Step[] = [
    ...(forked ? [] : [closeFd({ fd: "syncWrite" }, "close the parent's end of the sync pipe")]),
    // An OCI container keeps a read end itself: after `create` has exited, a failed exec
    // still writes its record (and exits 127) instead of dying of SIGPIPE.
    ...(cfg.oci?.gateFd !== undefined || forked
      ? []
      : [closeFd({ fd: "errRead" }, "close the parent's end of the error pipe")]),
    ...(cfg.oci?.closeFds ?? []).map((fd) => ({
      ...closeFd(int(fd), `close ctr's copy ${fd} of its stdio`),
      tolerate: ["EBADF"],
    })),
    ...syncPoint(opts.startPhase ?? PHASE_START, staged ? "cgroups" : "uid/gid maps and cgroups"),
    ...joinSteps(cfg),
  ];
  let plan: Plan;
  const rest = (): Step[] => [
    ...(ns.cgroup.kind === "new"
      ? [{
        call: "unshare" as const,
        args: [{ int: NS_FLAG.cgroup, show: nsFlagName("cgroup") }],
        label: "enter a new cgroup namespace rooted at the container's cgroup",
      }]
      : []),
    ...(userns ? becomeRoot() : []),
    ...rootfs.build(),
    ...(ns.net.kind === "new" ? loopbackUp() : []),
    ...processSteps(cfg, host),
  ];
  if (!staged) {
    let cloneFlags = 0;
    // The cgroup namespace is made after the parent has moved the child into its
    // cgroup (phase 0), so that cgroup is its root.
    for (const t of NS_TYPES) if (ns[t].kind === "new" && t !== "cgroup") cloneFlags |= NS_FLAG[t];
    plan = { cloneFlags, steps: [...steps, ...rest()] };
  } else {
    if (ns.user.kind === "new") {
      steps.push(
        unshare(NS_FLAG.user, "make the container's user namespace, after the joined ones"),
        ...syncPoint(PHASE_ID_MAPS, "uid/gid maps"),
      );
    }
    const later = NS_TYPES.filter((t) => ns[t].kind === "new" && t !== "user" && t !== "cgroup");
    if (later.length) {
      steps.push(unshare(
        later.reduce((f, t) => f | NS_FLAG[t], 0),
        "make the container's other namespaces (the pid namespace is its child's)",
      ));
    }
    const child = slot("container_pid");
    steps.push(
      forkAndHandOver(child),
      ...syncPoint(PHASE_HANDOVER, "the container's process is forked"),
      ...rest(),
    );
    plan = {
      cloneFlags: 0,
      steps,
      handover: { phase: PHASE_HANDOVER, slot: child },
      idMapPhase: ns.user.kind === "new" ? PHASE_ID_MAPS : undefined,
    };
  }
  // An unprivileged writer maps a single gid only with setgroups denied: the
  // container keeps the supplementary groups it has (the kernel shows them as nogroup).
  if (userns && host.unprivileged && !setgroupsAllowed(cfg.gidMap)) {
    plan = { ...plan, steps: withoutSetgroups(plan.steps) };
  }
  const problems = validate(plan);
  if (problems.length) throw new Error(`Invalid plan:\n${problems.join("\n")}`);
  return plan;
}

/** unshare(flags). */
function unshare(flags: number, label: string): Step {
  return {
    call: "unshare",
    args: [int(flags, () => cloneFlagNames(flags))],
    label,
    hints: { EINVAL: "the kernel lacks one of these namespaces" },
  };
}

/**
 * The namespaces joined by path, user first: the child opens each file
 * itself (it still sees ctr's mounts), joins, and closes it.
 */
function joinSteps(cfg: ContainerConfig): Step[] {
  const steps: Step[] = [];
  for (const t of NS_TYPES) {
    const m = cfg.namespaces[t];
    if (m.kind !== "path") continue;
    const fd = slot(`${t}_ns`);
    steps.push(
      openAt(m.path, O.RDONLY | O.CLOEXEC, fd, `open the ${t} namespace ${m.path}`, {
        ENOENT: "the namespace file is gone (the process exited, or nothing is pinned there)",
      }),
      joinNamespace({ ref: fd }, t, m.path, joinHint(t, m.path)),
      closeFd({ ref: fd }, `close the ${t} namespace file`),
    );
  }
  return steps;
}

function joinHint(t: NsType, path: string): string {
  return t === "user"
    ? `${path} is not a user namespace, or it is ctr's own`
    : `${path} is not a ${t} namespace`;
}

/** A plan as `--dry-run` prints it. */
export function showPlan(plan: Plan): string {
  return formatPlan(plan, cloneFlagNames(plan.cloneFlags | CLONE.VM | CLONE.PIDFD) + "|SIGCHLD");
}
