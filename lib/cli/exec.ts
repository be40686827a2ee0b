/**
 * `ctr exec NAME COMMAND`: a new process in a running container. It joins
 * every namespace of the container's PID 1 (user first), its cgroup (the
 * parent moves it there before it does anything, so its children are
 * counted too), its root and working directory, and takes the container's
 * environment, user, capabilities and no_new_privs, as docker exec does.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { AT, O, SIGNALS, TIOC } from "../../ffi/constants.ts";
import { close, ioctl, open, sys } from "../../ffi/sys.ts";
import { capSet, lastCap } from "../runtime/capabilities.ts";
import { RunError } from "../engine/container.ts";
import { isRunning } from "../engine/lifecycle.ts";
import { enterPlan, processNamespaces } from "../runtime/namespaces.ts";
import { int, PlanError, type Step, str } from "../runtime/plan.ts";
import { identitySteps } from "../runtime/process.ts";
import { cloneInto, signalPidfd, spawn, waitPid, waitPidfd } from "../runtime/spawn.ts";
import { StateDir } from "../engine/state.ts";
import { relayPty, syncWindowSize } from "../runtime/tty.ts";
import { resolveUser } from "../runtime/user.ts";
import { cgroupOf } from "../engine/lifecycle.ts";
import type { Cgroup } from "../cgroups/mod.ts";
import { parseArgs, UsageError } from "./args.ts";
import { EXEC_OPTIONS } from "./control.ts";
import type { ContainerConfig, NsType } from "../config/container.ts";

/** Opens a new pty in the container's devpts; returns the master and the slave's number. */
function openExecPty(pid: number, uid: number, gid: number): { master: number; num: number } {
  const master = open(`/proc/${pid}/root/dev/pts/ptmx`, O.RDWR | O.NOCTTY);
  try {
    ioctl(master, TIOC.SPTLCK, new Uint8Array(4), "pty master (unlockpt)");
    const n = new Uint8Array(4);
    ioctl(master, TIOC.GPTN, n, "pty master (ptsname)");
    const num = new DataView(n.buffer).getUint32(0, true);
    Deno.chownSync(`/proc/${pid}/root/dev/pts/${num}`, uid, gid);
    syncWindowSize(master);
    return { master, num };
  } catch (e) {
    close(master);
    throw e;
  }
}

/** The host id of a container id under the container's map (itself without a user namespace). */
function hostId(pid: number, file: "uid_map" | "gid_map", id: number): number {
  try {
    for (const l of Deno.readTextFileSync(`/proc/${pid}/${file}`).trim().split("\n")) {
      const [c, h, n] = l.trim().split(/\s+/).map(Number);
      if (id >= c && id < c + n) return h + (id - c);
    }
  } catch { /* no map: the same ids */ }
  return id;
}

/** Runs `ctr exec`; returns the command's exit code. */
export async function execCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, EXEC_OPTIONS, { stopAfterPositionals: 2 });
  if (opts.help) {
    console.log("Usage: ctr exec [OPTIONS] CONTAINER COMMAND [ARG...]");
    return 0;
  }
  const [ref, ...args] = positionals;
  if (!ref || args.length === 0) {
    throw new UsageError(`"ctr exec" requires a container and a command`);
  }
  const dir = new StateDir(g.stateDir);
  const s = dir.find(ref);
  if (!isRunning(s)) throw new RunError(`Container ${s.id.slice(0, 12)} is not running`, 125);
  if (s.status === "paused") {
    throw new RunError(
      `Container ${s.id.slice(0, 12)} is paused, unpause the container before exec`,
      125,
    );
  }
  const cfg = s.config;
  if (!cfg) throw new RunError(`Container ${s.name} has no recorded configuration`, 125);
  const pid = s.pid;

  const root = `/proc/${pid}/root`;
  const user = opts.user !== undefined
    ? resolveUser(opts.user as string, [root], [])
    : { uid: cfg.process.uid, gid: cfg.process.gid, groups: cfg.process.groups };
  const env = [...cfg.process.env];
  for (const e of (opts.env as string[] | undefined) ?? []) {
    if (e.indexOf("=") <= 0) {
      throw new UsageError(`invalid environment variable ${JSON.stringify(e)}`);
    }
    env.push(e);
  }
  const dedup = new Map<string, string>();
  for (const e of env) dedup.set(e.slice(0, e.indexOf("=")), e);

  const cwd = (opts.workdir as string | undefined) ?? cfg.process.cwd;
  const caps = opts.privileged ? capSet(["ALL"], [], [], lastCap()) : cfg.process.caps;
  const run = await execProcess({
    pid,
    cgroup: cgroupOf(s),
    args,
    env: [...dedup.values()],
    cwd,
    uid: user.uid,
    gid: user.gid,
    groups: user.groups,
    caps,
    noNewPrivileges: cfg.process.noNewPrivileges,
    tty: opts.tty === true,
    interactive: opts.interactive === true,
    detach: opts.detach === true,
    what: `container ${s.name}`,
  });
  return await run.wait();
}

/** A process to start in a running container: its identity as a container's first process has it. */
export interface ExecSpec extends
  Pick<
    ContainerConfig["process"],
    "args" | "env" | "cwd" | "uid" | "gid" | "groups" | "caps" | "noNewPrivileges"
  > {
  /** The container's PID 1: whose namespaces, root and cwd to join. */
  readonly pid: number;
  /** The container's cgroup, joined before the process does anything. */
  readonly cgroup?: Cgroup;
  /** A new pty of the container (relayed here, or given to `sendConsole`). */
  readonly tty: boolean;
  readonly interactive: boolean;
  /** Nobody waits here: stdio on /dev/null unless a pty was sent away or `inheritStdio`. */
  readonly detach: boolean;
  /** Keep ctr's own stdio for the process (an OCI caller such as conmon passes its pipes). */
  readonly inheritStdio?: boolean;
  /** Where a pty master goes instead of this terminal (an OCI console socket). */
  readonly sendConsole?: (master: number) => void;
  /** For messages: "container NAME". */
  readonly what: string;
}

/** A started exec: its pid, and a wait that relays the pty and returns the exit code. */
export interface ExecRun {
  readonly pid: number;
  wait(): Promise<number>;
}

/** Starts a process in a running container (see the module's doc). */
export async function execProcess(o: ExecSpec): Promise<ExecRun> {
  const pid = o.pid;
  const mine = new Map(processNamespaces("self").map((n) => [n.type, n.inode]));
  const join = new Map<NsType, string>();
  for (const n of processNamespaces(pid)) {
    if (n.inode !== mine.get(n.type)) join.set(n.type, n.path);
  }
  let pty: { master: number; num: number } | undefined;
  const before: Step[] = [];
  if (o.tty) {
    pty = openExecPty(pid, hostId(pid, "uid_map", o.uid), hostId(pid, "gid_map", 5));
    const tty = { name: "exec_tty" };
    before.push(
      { call: "setsid", args: [], label: "start a new session" },
      {
        call: "openat",
        args: [int(AT.FDCWD, "AT_FDCWD"), str(`/dev/pts/${pty.num}`), int(O.RDWR, "O_RDWR")],
        label: `open the pty /dev/pts/${pty.num}`,
        save: tty,
      },
      ...[0, 1, 2].map((fd): Step => ({
        call: "dup3",
        args: [{ ref: tty }, int(fd), int(0)],
        label: `pty as fd ${fd}`,
      })),
      {
        call: "ioctl",
        args: [int(0), int(TIOC.SCTTY, "TIOCSCTTY"), int(0)],
        label: "make the pty the controlling terminal",
      },
      { call: "close", args: [{ ref: tty }], label: "close the extra pty fd" },
    );
  } else if (o.detach && !o.sendConsole && !o.inheritStdio) {
    // Nobody reads a detached command's output; it must not hold ctr's pipes either.
    before.push(...[0, 1, 2].map((fd): Step => ({
      call: "dup3",
      args: [{ fd: "devNull" }, int(fd), int(0)],
      label: `fd ${fd} to /dev/null`,
    })));
  } else if (!o.interactive) {
    before.push({
      call: "dup3",
      args: [{ fd: "devNull" }, int(0), int(0)],
      label: "stdin from /dev/null",
    });
  }
  const { cwd, caps, args } = o;
  before.push(
    ...identitySteps({
      uid: o.uid,
      gid: o.gid,
      groups: o.groups,
      caps,
      noNewPrivileges: o.noNewPrivileges,
    }, lastCap()),
    { call: "chdir", args: [str(cwd)], label: `chdir ${cwd}` },
  );

  const { plan, fds, child } = enterPlan({
    join,
    rootOf: pid,
    args,
    env: o.env,
    waitForParent: true,
    beforeExec: before,
  });
  const cg = o.cgroup;
  // On cgroup v2 the process starts in the container's cgroup (clone3); else it moves in at phase 0.
  const into = cloneInto(cg);
  let spawned;
  try {
    spawned = await spawn(plan, (phase, p) => {
      if (phase === 0 && !into) cg?.addProcess(p);
    }, { cgroup: into });
  } catch (e) {
    if (pty) close(pty.master);
    if (e instanceof PlanError) {
      if (e.step.call === "execve") {
        const code = e.errno === 2 ? 127 : 126;
        throw new RunError(
          `exec: ${JSON.stringify(args[0])}: ${
            code === 127 ? "executable file not found in $PATH" : e.message
          }`,
          code,
        );
      }
      throw new RunError(`Cannot exec in ${o.what}: ${e.message}`, 126);
    }
    throw e;
  } finally {
    for (const fd of fds) close(fd);
    if (into) close(into.fd);
  }
  await waitPid(spawned.pid);
  close(spawned.pidfd);
  const execPid = Number(spawned.slots.get(child.name));
  if (pty && o.sendConsole) {
    try {
      o.sendConsole(pty.master);
    } finally {
      close(pty.master);
    }
    pty = undefined;
  }
  if (o.detach) {
    if (pty) close(pty.master);
    return { pid: execPid, wait: () => Promise.resolve(0) };
  }
  const ptyNow = pty;
  return { pid: execPid, wait: () => waitExec(execPid, ptyNow, o.interactive) };
}

async function waitExec(
  execPid: number,
  pty: { master: number } | undefined,
  interactive: boolean,
): Promise<number> {
  const pidfd = sys("pidfd_open", `pid ${execPid}`, execPid, 0);
  const forward = (sig: Deno.Signal) => () => {
    try {
      signalPidfd(pidfd, SIGNALS[sig]);
    } catch { /* gone */ }
  };
  const listeners: [Deno.Signal, () => void][] = pty
    ? []
    : (["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as Deno.Signal[]).map((x) => [x, forward(x)]);
  for (const [x, f] of listeners) Deno.addSignalListener(x, f);
  const relay = pty ? relayPty(pty.master, interactive) : undefined;
  try {
    const code = (await waitPidfd(pidfd)).code;
    if (relay) await Promise.race([relay.output, new Promise((r) => setTimeout(r, 500))]);
    return code;
  } finally {
    relay?.stop();
    if (pty) close(pty.master);
    for (const [x, f] of listeners) Deno.removeSignalListener(x, f);
    close(pidfd);
  }
}
