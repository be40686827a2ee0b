/**
 * The one launch path. A container's first process (`ctr run`, OCI
 * `create`) and a process joined to a running one (`ctr exec`, `ctr enter`,
 * OCI `exec` and hooks) all start here: the plan is spawned, and while the
 * child waits the parent does its part at each sync point, always the same
 * way: at phase 0 the uid/gid maps (through newuidmap and newgidmap when
 * ctr is not root), the cgroup (unless the child was born in
 * it) and the OOM score, at the pty phase the container's pty master; the
 * caller adds its own work (a network, hooks) through `onPhase`.
 * @module
 */

import { close } from "../../ffi/sys.ts";
import type { IdMap, NsType } from "../config/container.ts";
import { type Cgroup, setOomScoreAdj } from "../cgroups/mod.ts";
import { planFailure } from "./errors.ts";
import { readPlanHost } from "./host.ts";
import { hostId } from "./idmap.ts";
import { joinPlan, openJoins } from "./namespaces.ts";
import { type Plan, PlanError, type Step } from "./plan.ts";
import { PHASE_PTY } from "./process.ts";
import { TTY_GID } from "./rootfs.ts";
import { cloneInto, spawn, type SyncHandler, waitPid } from "./spawn.ts";
import { sys } from "../../ffi/sys.ts";
import { openContainerPty } from "./tty.ts";
import { applyIdMaps } from "./userns.ts";

/** How the parent sets up a container's first process while it waits. */
export interface LaunchOptions {
  /** Maps of a new user namespace, written at phase 0. */
  readonly idMaps?: { readonly uid: readonly IdMap[]; readonly gid: readonly IdMap[] };
  /** The container's cgroup: born in it (clone3 on cgroup v2), else moved in at phase 0. */
  readonly cgroup?: Cgroup;
  /** oom_score_adj, written at phase 0 (before the process drops its privileges). */
  readonly oomScoreAdj?: number;
  /**
   * The process has a pty: its master is opened at the pty phase, with the
   * slave owned by this container uid (the tty group's gid).
   */
  readonly ptyOwner?: number;
  /** Called with the pty master; without it the master is returned, else closed after. */
  readonly onPty?: (master: number) => void;
  /** More work at a sync point, after the above (a network at phase 0; OCI hooks). */
  readonly onPhase?: SyncHandler;
  /** Return at this phase, leaving the child to go on alone (an OCI container waiting for start). */
  readonly returnAt?: number;
}

/** A launched container process. */
export interface Launched {
  readonly pid: number;
  /** A pidfd of it; the caller owns it. */
  readonly pidfd: number;
  /** The pty master when there is one and no onPty took it, else -1. */
  readonly master: number;
}

/**
 * Spawns a container's plan and serves its sync points. On failure the
 * child is gone and the pty closed; what else was made (the cgroup) is the
 * caller's to undo.
 */
export async function launch(plan: Plan, o: LaunchOptions): Promise<Launched> {
  let master = -1;
  const maps = o.idMaps;
  const into = cloneInto(o.cgroup);
  try {
    const spawned = await spawn(plan, async (phase, pid, child) => {
      // A plan that joins namespaces first makes its user namespace later (see containerPlan).
      if (maps && phase === (plan.idMapPhase ?? 0)) {
        applyIdMaps(pid, maps);
      }
      if (phase === 0) {
        if (!into) o.cgroup?.addProcess(pid);
        if (o.oomScoreAdj !== undefined) setOomScoreAdj(pid, o.oomScoreAdj);
      }
      if (phase === PHASE_PTY && o.ptyOwner !== undefined) {
        master = openContainerPty(
          pid,
          hostId(maps?.uid ?? [], o.ptyOwner),
          hostId(maps?.gid ?? [], TTY_GID),
        );
        if (o.onPty) {
          try {
            o.onPty(master);
          } finally {
            close(master);
            master = -1;
          }
        }
      }
      await o.onPhase?.(phase, pid, child);
    }, { cgroup: into, returnAt: o.returnAt });
    return { pid: spawned.pid, pidfd: spawned.pidfd, master };
  } catch (e) {
    if (master >= 0) close(master);
    throw e;
  } finally {
    if (into) close(into.fd);
  }
}

/** A process to start in the namespaces of a running one. */
export interface JoinRequest {
  /** Namespace type → file to join (/proc/PID/ns/X or a pinned path). */
  readonly join: ReadonlyMap<NsType, string>;
  /** Take root and cwd from this process (when its mount namespace is joined). */
  readonly rootOf?: number;
  readonly args: readonly string[];
  readonly env: readonly string[];
  /** Exec this path with `args` as the whole argv (argv[0] included), not a PATH search. */
  readonly path?: string;
  /** Steps after the fork, before the exec (identity, pty, stdio, cwd). */
  readonly beforeExec?: readonly Step[];
  /** The cgroup to start in (a container's, for exec): joined before the process runs anything. */
  readonly cgroup?: Cgroup;
  /** For errors: "Cannot exec in container web". */
  readonly what: string;
  /** The exit code of a failure before the exec (125 for enter, 126 for exec). */
  readonly failureCode?: number;
}

/** A process started by launchJoined: its pid and a pidfd the caller owns. */
export interface Joined {
  readonly pid: number;
  readonly pidfd: number;
}

/**
 * Starts a process in another's namespaces (see joinPlan): the child joins
 * and forks; the grandchild, ctr's own child thanks to CLONE_PARENT, runs
 * the command. A failed step becomes a RunError with docker's codes.
 */
export async function launchJoined(req: JoinRequest): Promise<Joined> {
  const opened = openJoins(req.join, req.rootOf);
  const { plan, child } = joinPlan({
    joins: opened.joins,
    root: opened.root,
    waitForParent: true,
    beforeExec: req.beforeExec,
    args: req.args,
    env: req.env,
    path: req.path,
  }, readPlanHost());
  const into = cloneInto(req.cgroup);
  let spawned;
  try {
    spawned = await spawn(plan, (phase, pid) => {
      if (phase === 0 && !into) req.cgroup?.addProcess(pid);
    }, { cgroup: into });
  } catch (e) {
    if (e instanceof PlanError) {
      throw planFailure(e, req.path ?? req.args[0], req.what, req.failureCode ?? 125);
    }
    throw e;
  } finally {
    for (const fd of opened.fds) close(fd);
    if (into) close(into.fd);
  }
  // The first child only joined and forked; it has exited by now.
  await waitPid(spawned.pid);
  close(spawned.pidfd);
  const pid = Number(spawned.slots.get(child.name));
  return { pid, pidfd: sys("pidfd_open", `pid ${pid}`, pid, 0) };
}
