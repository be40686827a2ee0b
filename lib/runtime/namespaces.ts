/**
 * Linux namespaces: their names and clone flags, what a process is in
 * (/proc/PID/ns), which processes share, pinning one by a bind mount, and the
 * plan that joins another process's namespaces (ctr enter, like nsenter).
 * @module
 */

import { MS, O } from "../../ffi/constants.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { addressOf, close, cString, open, sys } from "../../ffi/sys.ts";
import type { NsType } from "../config/container.ts";
import type { PlanHost } from "./host.ts";
import { int, type Plan, type Slot, slot, type Step, str, syncPoint } from "./plan.ts";
import {
  closeFd,
  closeOtherFds,
  execPath,
  execSteps,
  forkAsSibling,
  joinNamespace,
  NS_FLAG,
  resetSignals,
  unblockSignals,
} from "./steps.ts";

export { NS_FLAG };

/** Every namespace type, in the order they are joined (user first: it grants the rights for the others). */
export const NS_TYPES: readonly NsType[] = ["user", "cgroup", "ipc", "uts", "net", "pid", "mnt"];

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

/** One namespace to join: its type, its file (for messages) and an fd of it open in ctr. */
export interface Join {
  readonly type: NsType;
  readonly path: string;
  readonly fd: number;
}

/** What a join plan does (ctr enter, exec, a hook in a container's namespaces). */
export interface JoinSpec {
  /** The namespaces, joined in NS_TYPES order (user first). */
  readonly joins: readonly Join[];
  /** fds of the target's root and working directory, taken after the mount namespace. */
  readonly root?: { readonly rootFd: number; readonly cwdFd: number };
  /** Wait for the parent first (it moves the child into a cgroup at phase 0). */
  readonly waitForParent?: boolean;
  /** Steps the new process runs after the fork, before its exec (identity, pty, cwd). */
  readonly beforeExec?: readonly Step[];
  readonly args: readonly string[];
  readonly env: readonly string[];
  /** Exec this path with `args` as the whole argv (argv[0] included), not a PATH search. */
  readonly path?: string;
}

/**
 * The plan that joins another process's namespaces: setns into each (user
 * first), take the target's root and cwd, then fork (so the new process is
 * really in the pid namespace) with CLONE_PARENT so ctr reaps it, and exec.
 * Pure: the fds are opened by the caller (openJoins).
 */
export function joinPlan(
  spec: JoinSpec,
  host: Pick<PlanHost, "resetSignals">,
): { plan: Plan; child: Slot } {
  const steps: Step[] = [];
  if (spec.waitForParent) {
    // Only ctr may hold the write end: a child holding it too would wait forever for a dead ctr.
    steps.push(
      closeFd({ fd: "syncWrite" }, "close the parent's end of the sync pipe"),
      ...syncPoint(0, "cgroup"),
    );
  }
  const order = [...spec.joins].sort((a, b) => NS_TYPES.indexOf(a.type) - NS_TYPES.indexOf(b.type));
  for (const j of order) {
    steps.push(
      joinNamespace(
        int(j.fd),
        j.type,
        j.path,
        `${j.path} is not a ${j.type} namespace, or it is ctr's own user namespace`,
      ),
    );
  }
  if (spec.root) {
    steps.push(
      { call: "fchdir", args: [int(spec.root.rootFd)], label: "go to the target's root" },
      { call: "chroot", args: [str(".")], label: "take the target's root" },
      {
        call: "fchdir",
        args: [int(spec.root.cwdFd)],
        label: "take the target's working directory",
      },
    );
  }
  const child = slot("child");
  steps.push(
    forkAsSibling(child),
    closeOtherFds(),
    ...resetSignals(host.resetSignals),
    unblockSignals(),
    ...(spec.beforeExec ?? []),
    ...(spec.path === undefined
      ? execSteps(spec.args, spec.env)
      : [execPath(spec.path, spec.args, spec.env)]),
  );
  return { plan: { cloneFlags: 0, steps }, child };
}

/** The namespaces of `pid` that differ from ctr's own: what exec, enter and hooks join. */
export function differingNamespaces(pid: number): Map<NsType, string> {
  const mine = new Map(processNamespaces("self").map((n) => [n.type, n.inode]));
  const join = new Map<NsType, string>();
  for (const n of processNamespaces(pid)) {
    if (n.inode !== mine.get(n.type)) join.set(n.type, n.path);
  }
  return join;
}

/** The fds a join plan uses, open in ctr; close `fds` once the child has them. */
export interface OpenedJoins {
  readonly joins: Join[];
  readonly root?: { readonly rootFd: number; readonly cwdFd: number };
  readonly fds: number[];
}

/**
 * Opens the namespace files to join and, when the mount namespace is among
 * them and `rootOf` is given, that process's root and working directory.
 */
export function openJoins(join: ReadonlyMap<NsType, string>, rootOf?: number): OpenedJoins {
  const fds: number[] = [];
  try {
    let root: OpenedJoins["root"];
    if (rootOf !== undefined && join.has("mnt")) {
      const rootFd = open(`/proc/${rootOf}/root`, O.RDONLY | O.DIRECTORY);
      fds.push(rootFd);
      const cwdFd = open(`/proc/${rootOf}/cwd`, O.RDONLY | O.DIRECTORY);
      fds.push(cwdFd);
      root = { rootFd, cwdFd };
    }
    const joins: Join[] = [];
    for (const [type, path] of join) {
      let fd: number;
      try {
        fd = open(path, O.RDONLY);
      } catch (e) {
        throw new Error(`Cannot open the ${type} namespace ${path}: ${(e as Error).message}`);
      }
      fds.push(fd);
      joins.push({ type, path, fd });
    }
    return { joins, root, fds };
  } catch (e) {
    for (const fd of fds) close(fd);
    throw e;
  }
}
