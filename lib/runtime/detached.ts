/**
 * A detached container, launched from any ctr process (a `run -d` command,
 * `ctr serve`): the plan's first child (W) forks the container (C) with
 * vfork semantics, and once C has exec'd, W becomes the container's watcher
 * (the small static program of ffi/watch, from a memfd) instead of
 * exiting. The watcher is C's parent, so it reaps it, logs its output and
 * records its exit; the ctr process that launched it goes on (or exits)
 * without having to become anything. W stays in ctr's namespaces and
 * cgroup; C gets the container's.
 *
 *     ctr ──clone(CLONE_VM)──> W ──clone(ns flags | VM | VFORK | PARENT_SETTID)──> C
 *                              │   (C's pid lands in ctr's memory before C runs)
 *                              │   C: the container's plan, sync points with ctr, execve
 *                              └─> after C's exec: sync with ctr, the fds in place, execveat(watcher)
 * @module
 */

import { CLONE, O, SIGNALS } from "../../ffi/constants.ts";
import { close } from "../../ffi/sys.ts";
import { sys } from "../../ffi/sys.ts";
import { setOomScoreAdj } from "../cgroups/mod.ts";
import { PHASE_FORKED } from "./container_plan.ts";
import { hostId } from "./idmap.ts";
import type { LaunchOptions } from "./launch.ts";
import { type Arg, int, NULL, type Plan, type Slot, slot, type Step, syncPoint } from "./plan.ts";
import { PHASE_PTY } from "./process.ts";
import { TTY_GID } from "./rootfs.ts";
import { spawn } from "./spawn.ts";
import { closeFd, closeOtherFds, dupAbove, dupTo, execFd, stdioToNull } from "./steps.ts";
import { openContainerPty } from "./tty.ts";
import { applyIdMaps } from "./userns.ts";

/** Sync phase at which W, the container exec'd, waits for ctr's go before it becomes the watcher. */
export const PHASE_WATCHER = 6;

/** The fd numbers the watcher finds the container's pidfd, output, input and socket at. */
export const WATCHER_FDS = { pidfd: 64, stdout: 65, stderr: 66, stdin: 67, attach: 68 } as const;

/** Where W moves what it hands on before the dup3s to WATCHER_FDS: past all of them. */
const ABOVE_WATCHER_FDS = WATCHER_FDS.attach + 1;

/** How the watcher finds what W handed it, as its command line names them ("-1": none). */
export interface WatcherFdArgs {
  /** The container: `fd:64`, its pidfd. */
  readonly container: string;
  readonly stdout: string;
  readonly stderr: string;
  /** Where attached input goes (the stdin pipe, or the pty master), if anywhere. */
  readonly stdin?: string;
  /** The listening socket clients attach at, if any. */
  readonly attach?: string;
}

/** What W becomes once the container runs. */
export interface WatcherLaunch {
  /** A memfd of the watcher program, open in ctr (openWatcher in ffi/watch.ts). */
  readonly memfd: number;
  /** The read ends of the container's stdout and stderr pipes, open in ctr (-1: none). */
  readonly stdout: number;
  readonly stderr: number;
  /** The write end of the container's stdin pipe (-i without a pty), open in ctr. */
  readonly stdin?: number;
  /** A listening unix socket for attached clients, open in ctr. */
  readonly attach?: number;
  /**
   * With a pty: an fd number ctr holds (any open file) for the master to be
   * put at once it exists; W takes it from ctr with pidfd_getfd.
   */
  readonly ptyAt?: number;
  /** The watcher's argv, given where it finds the container, its output and input. */
  argv(fds: WatcherFdArgs): string[];
  readonly env: readonly string[];
}

/**
 * The plan of W: fork C to run `container` (whose first sync point must be
 * PHASE_FORKED: containerPlan's startPhase), then, C exec'd, take the
 * container's pidfd and output to fixed numbers and exec the watcher.
 * `childPid` is where the kernel writes C's pid (CLONE_PARENT_SETTID).
 */
export function detachedPlan(
  container: Plan,
  w: WatcherLaunch,
): { plan: Plan; childPid: Slot } {
  const childPid = slot("container_pid");
  const flags = container.cloneFlags | CLONE.VM | CLONE.VFORK | CLONE.PARENT_SETTID |
    SIGNALS.SIGCHLD;
  const watcher: Step[] = [
    ...syncPoint(PHASE_WATCHER, "the container runs; the watcher is next"),
    { call: "setsid", args: [], label: "a session of the watcher's own" },
  ];
  // Everything W hands on or uses from here is first moved above the fixed numbers: an fd
  // of ctr's (a busy server has hundreds) may sit at one of them, and a dup3 there would
  // close it, or fail when it is the same number.
  const moved = (from: Arg, name: string): Slot => {
    const at = slot(name);
    watcher.push(dupAbove(from, ABOVE_WATCHER_FDS, at, `${name} out of the way`));
    return at;
  };
  const memfd = moved(int(w.memfd), "watcher_memfd");
  const devNull = moved({ fd: "devNull" }, "dev_null");
  const pidfdAt = slot("container_pidfd");
  watcher.push({
    call: "pidfd_open",
    args: [{ ref: childPid }, int(0)],
    label: "open a pidfd of the container",
    save: pidfdAt,
  });
  const handOn: [Slot, number, string][] = [
    [moved({ ref: pidfdAt }, "pidfd"), WATCHER_FDS.pidfd, "the container's pidfd for the watcher"],
  ];
  let out = "-1", err = "-1", input: string | undefined;
  if (w.ptyAt !== undefined) {
    const ppid = slot("ctr_pid"), ppidfd = slot("ctr_pidfd"), master = slot("pty_master");
    watcher.push(
      { call: "getppid", args: [], label: "ctr's pid", save: ppid },
      { call: "pidfd_open", args: [{ ref: ppid }, int(0)], label: "a pidfd of ctr", save: ppidfd },
      {
        call: "pidfd_getfd",
        args: [{ ref: ppidfd }, int(w.ptyAt), int(0)],
        label: "take the pty master from ctr",
        save: master,
      },
    );
    handOn.push([
      moved({ ref: master }, "master"),
      WATCHER_FDS.stdout,
      "the pty master for the watcher",
    ]);
    out = input = String(WATCHER_FDS.stdout);
  } else {
    if (w.stdout >= 0) {
      handOn.push([
        moved(int(w.stdout), "stdout"),
        WATCHER_FDS.stdout,
        "stdout's pipe for the watcher",
      ]);
      out = String(WATCHER_FDS.stdout);
    }
    if (w.stderr >= 0) {
      handOn.push([
        moved(int(w.stderr), "stderr"),
        WATCHER_FDS.stderr,
        "stderr's pipe for the watcher",
      ]);
      err = String(WATCHER_FDS.stderr);
    }
    if (w.stdin !== undefined && w.stdin >= 0) {
      handOn.push([
        moved(int(w.stdin), "stdin"),
        WATCHER_FDS.stdin,
        "stdin's pipe for the watcher",
      ]);
      input = String(WATCHER_FDS.stdin);
    }
  }
  let attach: string | undefined;
  if (w.attach !== undefined && w.attach >= 0) {
    handOn.push([
      moved(int(w.attach), "attach"),
      WATCHER_FDS.attach,
      "the attach socket for the watcher",
    ]);
    attach = String(WATCHER_FDS.attach);
  }
  for (const [from, to, label] of handOn) watcher.push(dupTo({ ref: from }, to, label));
  const fds = {
    container: `fd:${WATCHER_FDS.pidfd}`,
    stdout: out,
    stderr: err,
    stdin: input,
    attach,
  };
  watcher.push(
    ...stdioToNull({ ref: devNull }),
    // The watcher outlives ctr: it keeps what it was handed and nothing else, not even an fd
    // ctr itself inherited without close-on-exec (a pipe of the shell that started ctr would
    // never see its end).
    closeOtherFds(3, WATCHER_FDS.pidfd - 1),
    closeOtherFds(ABOVE_WATCHER_FDS),
    execFd({ ref: memfd }, w.argv(fds), w.env, "become the watcher"),
  );
  const steps: Step[] = [
    // Neither W nor the container may hold ctr's ends of the pipes: with ctr dead, a read
    // of the sync pipe must end (EOF), not wait for a writer that W still is.
    closeFd({ fd: "syncWrite" }, "close the parent's end of the sync pipe"),
    closeFd({ fd: "errRead" }, "close the parent's end of the error pipe"),
    // Phase 0 is the executor's, right after W's clone: W only takes its byte.
    ...syncPoint(0, "W is cloned"),
    {
      call: "clone",
      args: [
        int(flags, "CLONE_NEW*|CLONE_VM|CLONE_VFORK|CLONE_PARENT_SETTID|SIGCHLD"),
        {
          stack: true,
        },
        { slotAddr: childPid },
        NULL,
        NULL,
      ],
      label: "fork the container (the parent side becomes its watcher)",
      fork: true,
      parentJump: container.steps.length + 1,
    },
    ...container.steps,
    ...watcher,
  ];
  return { plan: { cloneFlags: 0, steps }, childPid };
}

/** A detached container launched, and the watcher that is its parent. */
export interface LaunchedDetached {
  readonly pid: number;
  /** A pidfd of the container; the caller owns it. */
  readonly pidfd: number;
  readonly watcherPid: number;
  /** A pidfd of the watcher (ctr's child); the caller owns it. */
  readonly watcherPidfd: number;
}

/**
 * Launches a detached container (see the module's doc). The parent's work at
 * the container's sync points is launch()'s; the cgroup is always joined by
 * a move (C is cloned by W, not by ctr). On failure both processes are gone.
 */
export async function launchDetached(
  container: Plan,
  w: WatcherLaunch,
  o: Omit<LaunchOptions, "returnAt" | "onPty"> & {
    /**
     * Called while W waits for its go, the container exec'd: the two pids are
     * recorded here, so that a ctr killed after the go leaves a watcher `rm -f` knows of.
     */
    readonly onWatcher?: (pid: number, watcherPid: number) => Promise<void> | void;
  },
): Promise<LaunchedDetached> {
  const { plan, childPid } = detachedPlan(container, w);
  let cpid = 0;
  // Opened while W waits for its go: once W is the watcher it may reap a short command at once.
  let pidfd = -1;
  const maps = o.idMaps;
  let spawned;
  try {
    spawned = await spawn(plan, async (phase, wpid, child) => {
      if (phase === 0) return;
      if (phase === PHASE_FORKED) {
        // Written by the kernel (CLONE_PARENT_SETTID) before C ran its first step.
        cpid = Number(child.slot(childPid.name) ?? 0n);
        if (cpid <= 0) throw new Error("The container's pid did not arrive");
        if (maps) applyIdMaps(cpid, maps);
        o.cgroup?.addProcess(cpid);
        if (o.oomScoreAdj !== undefined) setOomScoreAdj(cpid, o.oomScoreAdj);
        await o.onPhase?.(0, cpid, child);
        return;
      }
      if (phase === PHASE_PTY && o.ptyOwner !== undefined && w.ptyAt !== undefined) {
        const master = openContainerPty(
          cpid,
          hostId(maps?.uid ?? [], o.ptyOwner),
          hostId(maps?.gid ?? [], TTY_GID),
        );
        try {
          sys("dup3", "the pty master", master, w.ptyAt, O.CLOEXEC);
        } finally {
          close(master);
        }
        return;
      }
      if (phase === PHASE_WATCHER) {
        pidfd = sys("pidfd_open", `the container ${cpid}`, cpid, 0);
        return await o.onWatcher?.(cpid, wpid);
      }
      await o.onPhase?.(phase, cpid, child);
    });
  } catch (e) {
    // W failed after the container exec'd: nobody would watch it.
    if (pidfd >= 0) close(pidfd);
    if (cpid > 0) {
      try {
        Deno.kill(cpid, "SIGKILL");
      } catch { /* gone */ }
    }
    throw e;
  }
  return { pid: cpid, pidfd, watcherPid: spawned.pid, watcherPidfd: spawned.pidfd };
}
