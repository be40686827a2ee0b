/**
 * One container from start to end: its directory (upper, work, merged), the
 * plan (namespaces, root filesystem, process), the parent's work at the sync
 * points (uid/gid maps, the pty), signals, the wait, and the cleanup that
 * leaves nothing behind.
 * @module
 */

import { CLONE, SIGNALS } from "../ffi/constants.ts";
import { close } from "../ffi/sys.ts";
import { lastCap } from "./capabilities.ts";
import type { ContainerConfig, IdMap } from "./config.ts";
import { NS_FLAG, NS_TYPES } from "./namespaces.ts";
import { formatPlan, type Plan, PlanError, type Step, validate } from "./plan.ts";
import { changedSignals, PHASE_PTY, processSteps } from "./process.ts";
import { removeTree } from "./paths.ts";
import { RootfsBuilder } from "./rootfs.ts";
import { cloneFlagNames, signalPidfd, spawn, waitPidfd } from "./spawn.ts";
import { openContainerPty, relayPty } from "./tty.ts";
import { trace } from "./trace.ts";

/** Signals ctr passes on to the container. */
const FORWARDED: Deno.Signal[] = [
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGTERM",
  "SIGUSR1",
  "SIGUSR2",
  "SIGALRM",
  "SIGCONT",
];

/** An error that ends `ctr run` with a docker exit code (125, 126 or 127). */
export class RunError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = "RunError";
  }
}

const listings = new Map<string, Map<string, boolean>>();

/** Whether a host path is a directory, by listing its parent once (no exception per missing path). */
function isDirOnHost(p: string): boolean {
  const parent = p.slice(0, p.lastIndexOf("/")) || "/";
  let entries = listings.get(parent);
  if (!entries) {
    entries = new Map();
    try {
      for (const e of Deno.readDirSync(parent)) entries.set(e.name, e.isDirectory);
    } catch { /* missing parent: nothing below it is a directory */ }
    listings.set(parent, entries);
  }
  return entries.get(p.slice(p.lastIndexOf("/") + 1)) ?? false;
}

/** The whole plan of a container. */
export function containerPlan(cfg: ContainerConfig): Plan {
  let cloneFlags = 0;
  const joins: Step[] = [];
  for (const t of NS_TYPES) {
    const m = cfg.namespaces[t];
    if (m.kind === "new") cloneFlags |= NS_FLAG[t];
    if (m.kind === "path") {
      throw new RunError(`Joining a ${t} namespace by path is not supported by run yet`, 125);
    }
  }
  if (cfg.namespaces.mnt.kind !== "new") {
    throw new RunError("A container needs its own mount namespace", 125);
  }
  const userns = cfg.namespaces.user.kind === "new";
  const rootfs = new RootfsBuilder(cfg, {
    userns,
    netns: cfg.namespaces.net.kind === "new",
    isDir: isDirOnHost,
  });
  const steps: Step[] = [
    {
      call: "close",
      args: [{ fd: "syncWrite" }],
      label: "close the parent's end of the sync pipe",
    },
    { call: "close", args: [{ fd: "errRead" }], label: "close the parent's end of the error pipe" },
    {
      call: "read",
      args: [{ fd: "syncRead" }, { bytes: new Uint8Array(8), show: "buf" }, { int: 1 }],
      label: "wait for the parent: uid/gid maps and cgroups",
      expect: true,
    },
    ...joins,
    ...(userns ? becomeRoot() : []),
    ...rootfs.build(),
  ];
  if (cfg.namespaces.net.kind === "new") steps.push(...loopbackUp());
  steps.push(...processSteps(cfg, { resetSignals: changedSignals(), lastCap: lastCap() }));
  const plan = { cloneFlags, steps };
  const problems = validate(plan);
  if (problems.length) throw new Error(`Invalid plan:\n${problems.join("\n")}`);
  return plan;
}

/**
 * In a new user namespace the child still holds the host's ids, which the
 * maps do not name; it becomes the namespace's root first, so the files it
 * makes while building the root belong to the container's root user.
 */
function becomeRoot(): Step[] {
  return [
    {
      call: "setgroups",
      args: [{ int: 0 }, { int: 0, show: "NULL" }],
      label: "drop the host's supplementary groups",
    },
    {
      call: "setresgid",
      args: [{ int: 0 }, { int: 0 }, { int: 0 }],
      label: "become gid 0 of the user namespace",
      hints: { EINVAL: "gid 0 is not mapped" },
    },
    {
      call: "setresuid",
      args: [{ int: 0 }, { int: 0 }, { int: 0 }],
      label: "become uid 0 of the user namespace",
      hints: { EINVAL: "uid 0 is not mapped" },
    },
  ];
}

/** Brings lo up from inside the new network namespace (SIOCSIFFLAGS). */
function loopbackUp(): Step[] {
  const ifreq = new Uint8Array(40);
  ifreq.set(new TextEncoder().encode("lo"));
  new DataView(ifreq.buffer).setUint16(16, 0x1 | 0x40, true); // IFF_UP|IFF_RUNNING
  const sock = { name: "lo_sock" };
  return [
    {
      call: "socket",
      args: [{ int: 2, show: "AF_INET" }, { int: 2 | 0o2000000, show: "SOCK_DGRAM|SOCK_CLOEXEC" }, {
        int: 0,
      }],
      label: "open a socket for lo",
      save: sock,
    },
    {
      call: "ioctl",
      args: [{ ref: sock }, { int: 0x8914, show: "SIOCSIFFLAGS" }, {
        bytes: ifreq,
        show: '{"lo", IFF_UP|IFF_RUNNING}',
      }],
      label: "bring lo up",
    },
    { call: "close", args: [{ ref: sock }], label: "close the lo socket" },
  ];
}

/** The plan as `--dry-run` prints it. */
export function dryRun(cfg: ContainerConfig): string {
  const plan = containerPlan(cfg);
  return formatPlan(plan, cloneFlagNames(plan.cloneFlags | CLONE.VM | CLONE.PIDFD) + "|SIGCHLD");
}

/** The tty group of the container (gid 5, as devpts is mounted with gid=5). */
const TTY_GID = 5;

/** The host id of a container id under a map (the same id without a user namespace). */
function hostId(map: readonly IdMap[], id: number): number {
  if (map.length === 0) return id;
  const m = map.find((x) => id >= x.container && id < x.container + x.size);
  return m ? m.host + (id - m.container) : 65534;
}

function writeIdMap(pid: number, file: "uid_map" | "gid_map", map: readonly IdMap[]): void {
  const text = map.map((m) => `${m.container} ${m.host} ${m.size}`).join("\n") + "\n";
  try {
    Deno.writeTextFileSync(`/proc/${pid}/${file}`, text);
  } catch (e) {
    throw new RunError(
      `Cannot write /proc/${pid}/${file} (${text.trim()}): ${(e as Error).message}`,
      125,
    );
  }
}

/** Where the container's pid goes, for callers that watch it. */
export interface RunHooks {
  /** Called once the container has exec'd. */
  started?(pid: number): void;
}

/** Maps a failed plan step to docker's exit codes and words. */
export function planErrorToRunError(e: PlanError, cfg: ContainerConfig): RunError {
  if (e.step.call === "execve") {
    const cmd = cfg.process.args[0];
    if (e.errno === 2) {
      const msg = cmd.includes("/")
        ? `exec: ${JSON.stringify(cmd)}: no such file or directory`
        : `exec: ${JSON.stringify(cmd)}: executable file not found in $PATH`;
      return new RunError(msg, 127);
    }
    return new RunError(
      `exec: ${JSON.stringify(cmd)}: ${e.message.replace(/^.*?: execve: /, "")}`,
      126,
    );
  }
  return new RunError(`Cannot start the container: ${e.message}`, 125);
}

/** Prepares the container's directory; upper/work belong to the container's root user. */
function prepareDir(cfg: ContainerConfig): void {
  const containers = cfg.dir.slice(0, cfg.dir.lastIndexOf("/"));
  Deno.mkdirSync(containers, { recursive: true, mode: 0o711 });
  Deno.mkdirSync(cfg.dir, { mode: 0o711 });
  for (const d of ["upper", "work", "merged"]) Deno.mkdirSync(`${cfg.dir}/${d}`, { mode: 0o755 });
  if (cfg.namespaces.user.kind === "new") {
    // The remapped root reaches its upper layer as an unprivileged host user.
    for (let d = containers; d !== "" && d !== "/"; d = d.slice(0, d.lastIndexOf("/"))) {
      if ((Deno.statSync(d).mode! & 0o001) === 0) {
        throw new RunError(
          `${d} is not searchable by the container's remapped root: chmod o+x ${d}`,
          125,
        );
      }
    }
    const root = (m: readonly IdMap[]) => m.find((x) => x.container === 0 && x.size > 0)?.host;
    const uid = root(cfg.uidMap), gid = root(cfg.gidMap);
    if (uid === undefined || gid === undefined) {
      throw new RunError("The user namespace maps no root user", 125);
    }
    for (const d of ["upper", "work"]) Deno.chownSync(`${cfg.dir}/${d}`, uid, gid);
  }
}

/**
 * Runs a container in the foreground and returns its exit code (128+N when
 * killed by signal N). With `remove`, its directory is deleted afterwards.
 */
export async function runContainer(
  cfg: ContainerConfig,
  opts: { remove: boolean; hooks?: RunHooks },
): Promise<number> {
  let plan: Plan;
  try {
    trace("plan: start");
    plan = containerPlan(cfg);
    trace("plan: built");
  } catch (e) {
    throw e instanceof RunError ? e : new RunError((e as Error).message, 125);
  }
  let master = -1;
  let pidfd = -1;
  const listeners: [Deno.Signal, () => void][] = [];
  let relay: ReturnType<typeof relayPty> | undefined;
  let started = false;
  try {
    prepareDir(cfg);
    trace("container directory ready");
    let spawned;
    try {
      spawned = await spawn(plan, (phase, pid) => {
        if (phase === 0 && cfg.namespaces.user.kind === "new") {
          writeIdMap(pid, "uid_map", cfg.uidMap);
          writeIdMap(pid, "gid_map", cfg.gidMap);
        }
        if (phase === PHASE_PTY) {
          master = openContainerPty(
            pid,
            hostId(cfg.uidMap, cfg.process.uid),
            hostId(cfg.gidMap, TTY_GID),
          );
        }
      });
    } catch (e) {
      if (e instanceof PlanError) throw planErrorToRunError(e, cfg);
      throw e instanceof RunError ? e : new RunError((e as Error).message, 125);
    }
    pidfd = spawned.pidfd;
    started = true;
    trace("exec'd");
    // Binding the handlers takes a few milliseconds; the kernel's teardown of a
    // short-lived container's namespaces runs meanwhile.
    const arm = () => {
      for (const sig of FORWARDED) {
        const fn = () => {
          try {
            signalPidfd(pidfd, SIGNALS[sig]);
          } catch { /* the container is gone */ }
        };
        try {
          Deno.addSignalListener(sig, fn);
          listeners.push([sig, fn]);
        } catch { /* not a signal this platform lets us catch */ }
      }
    };
    arm();
    opts.hooks?.started?.(spawned.pid);
    if (master >= 0) relay = relayPty(master, cfg.process.stdin);
    const status = await waitPidfd(pidfd);
    trace("exited");
    if (relay) {
      // Drain what the container wrote before it ended; a background process
      // that still holds the pty must not keep ctr waiting.
      await Promise.race([relay.output, new Promise((r) => setTimeout(r, 500))]);
    }
    return status.code;
  } finally {
    relay?.stop();
    for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
    if (master >= 0) close(master);
    if (pidfd >= 0) close(pidfd);
    // A container that never started is not kept: nothing is left behind.
    if (opts.remove || !started) removeTree(cfg.dir);
    trace("cleaned up");
  }
}
