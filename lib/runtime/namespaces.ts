/**
 * Linux namespaces: their names and clone flags, what a process is in
 * (/proc/PID/ns), which processes share, pinning one by a bind mount, and the
 * plan that joins another process's namespaces (ctr enter, like nsenter).
 * @module
 */

import { CLONE, MS } from "../../ffi/constants.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { addressOf, close, cString, open, sys } from "../../ffi/sys.ts";
import { O } from "../../ffi/constants.ts";
import type { NsType } from "../config/container.ts";
import { int, NULL, type Plan, slot, type Step, str } from "./plan.ts";
import { changedSignals, execSteps } from "./process.ts";

/** Every namespace type, in the order they are joined (user first: it grants the rights for the others). */
export const NS_TYPES: readonly NsType[] = ["user", "cgroup", "ipc", "uts", "net", "pid", "mnt"];

/** The clone/setns flag of each type. */
export const NS_FLAG: Record<NsType, number> = {
  user: CLONE.NEWUSER,
  mnt: CLONE.NEWNS,
  pid: CLONE.NEWPID,
  uts: CLONE.NEWUTS,
  ipc: CLONE.NEWIPC,
  net: CLONE.NEWNET,
  cgroup: CLONE.NEWCGROUP,
};

/** Parses a namespace name; accepts the nsenter spellings too (mount, network). */
export function nsType(name: string): NsType {
  const n = name.trim().toLowerCase();
  const alias: Record<string, NsType> = { mount: "mnt", network: "net" };
  const t = (alias[n] ?? n) as NsType;
  if (!NS_TYPES.includes(t)) {
    throw new Error(`Unknown namespace: ${JSON.stringify(name)} (expected ${NS_TYPES.join(", ")})`);
  }
  return t;
}

/** One namespace of a process. */
export interface NsInfo {
  readonly type: NsType;
  readonly inode: number;
  readonly path: string;
}

/** The namespaces of a process, from /proc/PID/ns. */
export function processNamespaces(pid: number | "self"): NsInfo[] {
  if (pid !== "self") assertProcess(pid);
  return NS_TYPES.map((type) => {
    const path = `/proc/${pid}/ns/${type}`;
    let link: string;
    try {
      link = Deno.readLinkSync(path);
    } catch (e) {
      throw new Error(`Cannot read ${path}: ${(e as Error).message}`);
    }
    const inode = Number(link.match(/\[(\d+)\]/)?.[1] ?? 0);
    return { type, inode, path };
  });
}

/** Throws a clear error when no process has this pid. */
export function assertProcess(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error(`Invalid pid: ${pid}`);
  try {
    Deno.statSync(`/proc/${pid}`);
  } catch {
    throw new Error(`No such process: ${pid}`);
  }
}

/**
 * Keeps a namespace alive after its processes exit: bind-mounts its
 * /proc/PID/ns file on `target` (created as an empty file when missing).
 */
export function pinNamespace(pid: number, type: NsType, target: string): void {
  assertProcess(pid);
  const source = `/proc/${pid}/ns/${type}`;
  try {
    Deno.lstatSync(target);
  } catch {
    Deno.writeFileSync(target, new Uint8Array(), { mode: 0o444 });
  }
  try {
    sys(
      "mount",
      `${source} on ${target}`,
      addressOf(cString(source)),
      addressOf(cString(target)),
      0,
      MS.BIND,
      0,
    );
  } catch (e) {
    if (e instanceof SyscallError && e.code === "EINVAL" && type === "mnt") {
      throw new Error(
        `Cannot pin ${source} on ${target}: a mount namespace can only be pinned on a private mount outside itself`,
      );
    }
    throw e;
  }
}

/** Unpins a namespace pinned with pinNamespace(). */
export function unpinNamespace(target: string): void {
  sys("umount2", target, addressOf(cString(target)), 0);
}

/** What ctr enter joins. */
export interface EnterSpec {
  /** Namespace type → file to join (/proc/PID/ns/X or a pinned path). */
  readonly join: ReadonlyMap<NsType, string>;
  /** Take root and cwd from this process (when its mount namespace is joined). */
  readonly rootOf?: number;
  readonly args: readonly string[];
  readonly env: readonly string[];
  /** Wait for the parent first (it moves the child into a cgroup at phase 0). */
  readonly waitForParent?: boolean;
  /** Steps the new process runs after the fork, before its exec (identity, pty, cwd). */
  readonly beforeExec?: readonly Step[];
  /** Exec this path with `args` as the whole argv (argv[0] included), not a PATH search. */
  readonly path?: string;
}

/** Opened fds of an enter plan; close them after spawn. */
export interface EnterFds {
  readonly fds: number[];
}

/**
 * The plan of `ctr enter`: setns into each namespace (user first), take the
 * target's root and cwd, then fork (so the new process is really in the pid
 * namespace) with CLONE_PARENT so ctr reaps it, and exec.
 */
export function enterPlan(
  spec: EnterSpec,
): { plan: Plan; fds: number[]; child: ReturnType<typeof slot> } {
  const fds: number[] = [];
  const steps: Step[] = [];
  try {
    let rootFd = -1, cwdFd = -1;
    if (spec.rootOf !== undefined && spec.join.has("mnt")) {
      rootFd = open(`/proc/${spec.rootOf}/root`, O.RDONLY | O.DIRECTORY);
      fds.push(rootFd);
      cwdFd = open(`/proc/${spec.rootOf}/cwd`, O.RDONLY | O.DIRECTORY);
      fds.push(cwdFd);
    }
    if (spec.waitForParent) {
      steps.push({
        call: "read",
        args: [{ fd: "syncRead" }, { bytes: new Uint8Array(8), show: "buf" }, int(1)],
        label: "wait for the parent: cgroup",
        expect: true,
      });
    }
    for (const type of NS_TYPES) {
      const path = spec.join.get(type);
      if (!path) continue;
      let fd: number;
      try {
        fd = open(path, O.RDONLY);
      } catch (e) {
        throw new Error(`Cannot open the ${type} namespace ${path}: ${(e as Error).message}`);
      }
      fds.push(fd);
      steps.push({
        call: "setns",
        args: [
          int(fd),
          int(NS_FLAG[type], `CLONE_NEW${type === "mnt" ? "NS" : type.toUpperCase()}`),
        ],
        label: `join the ${type} namespace ${path}`,
        hints: { EINVAL: `${path} is not a ${type} namespace, or it is ctr's own user namespace` },
      });
    }
    if (rootFd >= 0) {
      steps.push(
        { call: "fchdir", args: [int(rootFd)], label: "go to the target's root" },
        { call: "chroot", args: [str(".")], label: "take the target's root" },
        { call: "fchdir", args: [int(cwdFd)], label: "take the target's working directory" },
      );
    }
    const child = slot("child");
    const flags = CLONE.VM | CLONE.VFORK | CLONE.PARENT | 17;
    steps.push({
      call: "clone",
      args: [
        int(flags, "CLONE_VM|CLONE_VFORK|CLONE_PARENT|SIGCHLD"),
        { stack: true },
        NULL,
        NULL,
        NULL,
      ],
      label: "fork into the joined pid namespace",
      fork: true,
      save: child,
    });
    steps.push(
      {
        call: "close_range",
        args: [int(3), int(0xffffffff, "~0U"), int(4, "CLOSE_RANGE_CLOEXEC")],
        label: "close every other fd at exec",
      },
      ...changedSignals().map((s): Step => ({
        call: "rt_sigaction",
        args: [int(s), { bytes: new Uint8Array(32), show: "{SIG_DFL}" }, NULL, int(8)],
        label: `reset signal ${s} to its default`,
      })),
      {
        call: "rt_sigprocmask",
        args: [int(2, "SIG_SETMASK"), { bytes: new Uint8Array(8), show: "[]" }, NULL, int(8)],
        label: "unblock all signals",
      },
      ...(spec.beforeExec ?? []),
      ...(spec.path === undefined ? execSteps(spec.args, spec.env) : [{
        call: "execve" as const,
        args: [str(spec.path), { strv: spec.args }, { strv: spec.env }],
        label: `exec ${spec.path}`,
      }]),
    );
    return { plan: { cloneFlags: 0, steps }, fds, child };
  } catch (e) {
    for (const fd of fds) close(fd);
    throw e;
  }
}
