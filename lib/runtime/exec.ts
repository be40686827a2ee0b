/**
 * A new process in a running container (`ctr exec`, OCI `exec`): it joins
 * every namespace of the container's PID 1 that differs from ctr's (user
 * first), its cgroup (before it does anything, so its children are counted
 * too), its root and working directory, and takes the identity it is given
 * (user, capabilities, no_new_privs), as docker exec does.
 * @module
 */

import { close } from "../../ffi/sys.ts";
import type { Cgroup } from "../cgroups/mod.ts";
import type { ContainerConfig } from "../config/container.ts";
import { readPlanHost } from "./host.ts";
import { hostId, readIdMap } from "./idmap.ts";
import { launchJoined } from "./launch.ts";
import { differingNamespaces } from "./namespaces.ts";
import { confinementSteps, type ProcessHost } from "./process.ts";
import { TTY_GID } from "./rootfs.ts";
import { FORWARDED_SHORT, forwardSignals, waitPidfd } from "./spawn.ts";
import {
  chdirTo,
  controllingPty,
  dieWithParent,
  dupTo,
  stdinFromNull,
  stdioToNull,
  stopIfParentGone,
} from "./steps.ts";
import { int, type Step } from "./plan.ts";
import { openPty, relayPty } from "./tty.ts";
import { setgroupsDenied, withoutSetgroups } from "./userns.ts";
import { settleWithin } from "../os/async.ts";
import { trace } from "../trace.ts";

/** A process to start in a running container: its identity as a container's first process has it. */
export interface ExecSpec extends
  Pick<
    ContainerConfig["process"],
    | "args"
    | "env"
    | "cwd"
    | "uid"
    | "gid"
    | "groups"
    | "caps"
    | "capSets"
    | "noNewPrivileges"
    | "seccomp"
    | "apparmorProfile"
    | "selinuxLabel"
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
  /** Host fds to give the process as stdout and stderr (stdin: /dev/null unless given). */
  readonly stdio?: { readonly stdin?: number; readonly stdout: number; readonly stderr: number };
  /** Where a pty master goes instead of this terminal (an OCI console socket). */
  readonly sendConsole?: (master: number) => void;
  /** For messages: "container NAME". */
  readonly what: string;
  /** SIGKILL when ctr dies (a foreground `ctr exec`: nobody would read its output after). */
  readonly dieWithParent?: boolean;
}

/** A started exec: its pid, and a wait that relays the pty and returns the exit code. */
export interface ExecRun {
  readonly pid: number;
  wait(): Promise<number>;
}

/**
 * What an exec'd process does after it has joined and forked, before its
 * exec: its stdio (a new pty `ptyNum` of the container, /dev/null, or ctr's
 * own), its identity and working directory. Pure.
 */
export function execPrelude(
  o: Omit<ExecSpec, "pid" | "cgroup" | "what">,
  ptyNum: number | undefined,
  host: Omit<ProcessHost, "resetSignals">,
): Step[] {
  const before: Step[] = [];
  if (ptyNum !== undefined) {
    before.push(...controllingPty(`/dev/pts/${ptyNum}`, "exec_tty"));
  } else if (o.stdio) {
    before.push(
      o.stdio.stdin === undefined
        ? stdinFromNull()
        : dupTo(int(o.stdio.stdin), 0, "stdin from the pipe"),
      dupTo(int(o.stdio.stdout), 1, "stdout to the pipe"),
      dupTo(int(o.stdio.stderr), 2, "stderr to the pipe"),
    );
  } else if (o.detach && !o.sendConsole && !o.inheritStdio) {
    // Nobody reads a detached command's output; it must not hold ctr's pipes either.
    before.push(...stdioToNull());
  } else if (!o.interactive) {
    before.push(stdinFromNull());
  }
  // The container's confinement applies to what runs in it later, as runc's exec does. The
  // death signal comes after the identity, whose change of ids would clear it.
  const tail = [
    chdirTo(o.cwd),
    ...(o.dieWithParent ? [dieWithParent(), ...stopIfParentGone()] : []),
  ];
  before.push(...confinementSteps(o, host, tail));
  return before;
}

/** Starts a process in a running container (see the module's doc). */
export async function execProcess(o: ExecSpec): Promise<ExecRun> {
  const pid = o.pid;
  let pty: { master: number; num: number } | undefined;
  if (o.tty) {
    pty = openPty(
      pid,
      hostId(readIdMap(pid, "uid_map"), o.uid),
      hostId(readIdMap(pid, "gid_map"), TTY_GID),
    );
  }
  const prelude = execPrelude(o, pty?.num, readPlanHost());
  // A rootless container with one gid mapped: its namespace denies setgroups.
  const before = setgroupsDenied(pid) ? withoutSetgroups(prelude) : prelude;
  let started;
  try {
    started = await launchJoined({
      join: differingNamespaces(pid),
      rootOf: pid,
      args: o.args,
      env: o.env,
      beforeExec: before,
      cgroup: o.cgroup,
      what: `Cannot exec in ${o.what}`,
      failureCode: 126,
    });
  } catch (e) {
    if (pty) close(pty.master);
    throw e;
  }
  trace("exec: started");
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
    close(started.pidfd);
    return { pid: started.pid, wait: () => Promise.resolve(0) };
  }
  const ptyNow = pty;
  return { pid: started.pid, wait: () => waitExec(started.pidfd, ptyNow, o.interactive) };
}

async function waitExec(
  pidfd: number,
  pty: { master: number } | undefined,
  interactive: boolean,
): Promise<number> {
  // With a pty the terminal's keys (^C) reach the process through it; without, signals are passed on.
  const stop = pty ? () => {} : forwardSignals(pidfd, FORWARDED_SHORT);
  const relay = pty ? relayPty(pty.master, interactive) : undefined;
  try {
    const code = (await waitPidfd(pidfd)).code;
    if (relay) await settleWithin(relay.output, 500);
    return code;
  } finally {
    relay?.stop();
    if (pty) close(pty.master);
    stop();
    close(pidfd);
  }
}
