/**
 * A recorded container over time: its true status (the state file says what
 * was true when written; the pid, its start time, the watcher and the exit
 * file say what is true now), and the work of the commands that change it:
 * stop, kill, wait, and the release of what a container held once it ended
 * (cgroup, network, directory), whoever notices first.
 * @module
 */

import { openCgroupDriver, removeCtrLevel } from "../cgroups/mod.ts";
import type { Cgroup } from "../cgroups/mod.ts";
import { removeTree } from "../os/tree.ts";
import { FileLock } from "../os/lock.ts";
import type { ContainerState, EndpointRecord, StateDir } from "./state.ts";
import { ruleComment, vethName } from "../network/names.ts";
import { isAlive } from "../os/proc.ts";
import { sleep } from "../os/async.ts";
import { trace } from "../trace.ts";
import { containerEvent, networkEvent, volumeMountEvents } from "./events.ts";
import { SIGNALS } from "../../ffi/constants.ts";

/** What a watcher writes when the container's PID 1 has been reaped. */
export interface ExitRecord {
  readonly exitCode: number;
  readonly signal: number;
  readonly finishedAt: string;
}

/** The exit record of a container, if its watcher wrote one. */
export function readExit(dir: StateDir, id: string): ExitRecord | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(dir.exitFile(id)));
  } catch {
    return undefined;
  }
}

/** Whether the process that waits for the container (ctr run or its watcher) is alive. */
export function watcherAlive(s: ContainerState): boolean {
  return s.watcher !== undefined && isAlive(s.watcher);
}

/**
 * The status a container really has. A recorded "running" or "paused" whose
 * PID 1 is gone is "exited" (its watcher may still be writing that down).
 */
export function liveStatus(s: ContainerState): ContainerState["status"] {
  if (s.status === "running" || s.status === "paused") return isAlive(s) ? s.status : "exited";
  return s.status;
}

/** Whether the container's PID 1 is running (or paused). */
export function isRunning(s: ContainerState): boolean {
  const st = liveStatus(s);
  return st === "running" || st === "paused";
}

/** The container's cgroup, reopened from its recorded paths (undefined: it has none). */
export function cgroupOf(s: ContainerState): Cgroup | undefined {
  if (!s.cgroupPaths || Object.keys(s.cgroupPaths).length === 0) return undefined;
  return openCgroupDriver().open(s.id, s.cgroupPaths);
}

/** The container's cgroup, or an error saying why it has none (pause, stats). */
export function requireCgroup(s: ContainerState): Cgroup {
  const cg = cgroupOf(s);
  if (!cg) {
    throw new Error(
      `Container ${s.name} has no cgroup${
        Deno.uid() !== 0 ? " (rootless, it gets one only below a delegated cgroup v2 subtree)" : ""
      }`,
    );
  }
  return cg;
}

/**
 * Freezes (`pause`) or thaws a running container's cgroup, records the
 * status and docker's pause or unpause event.
 */
export async function pauseContainer(
  dir: StateDir,
  s: ContainerState,
  pause: boolean,
): Promise<void> {
  const st = liveStatus(s);
  if (st !== "running" && st !== "paused") {
    throw new Error(`Container ${s.id.slice(0, 12)} is not running`);
  }
  if (pause && st === "paused") throw new Error(`Container ${s.id.slice(0, 12)} is already paused`);
  if (!pause && st !== "paused") throw new Error(`Container ${s.id.slice(0, 12)} is not paused`);
  const cg = requireCgroup(s);
  if (pause) await cg.freeze();
  else await cg.thaw();
  await dir.update(s.id, (cur) => ({ ...cur, status: pause ? "paused" : "running" }));
  containerEvent(dir.dir, s, pause ? "pause" : "unpause");
}

/**
 * Every cgroup the record names: the one by hierarchy, and each other
 * directory in `cgroups` (a fallback create() may have taken instead).
 */
function cgroupsOf(s: ContainerState): Cgroup[] {
  const main = cgroupOf(s);
  const known = new Set(Object.values(s.cgroupPaths ?? {}));
  const others = (s.cgroups ?? []).filter((d) => !known.has(d));
  if (others.length === 0) return main ? [main] : [];
  const driver = openCgroupDriver();
  return [...(main ? [main] : []), ...others.map((d) => driver.open(s.id, { unified: d }))];
}

/**
 * Releases what an ended container held, as its record names it (not as
 * the live objects describe themselves: some may be half-made or gone):
 * processes left in its cgroup and the cgroup in every hierarchy, its
 * network attachment (veth, rules, lease, peers' hosts) or user-mode
 * network stack. Idempotent and
 * tolerant of what is missing: the watcher calls it at the exit, `rm -f`
 * and lazy cleanup call it again after a crash. Every step is tried; the
 * first failure is thrown at the end, so the caller keeps the record.
 */
export async function releaseResources(s: ContainerState, stateDir: string): Promise<void> {
  const failed: unknown[] = [];
  for (const cg of cgroupsOf(s)) {
    await cg.thaw().catch(() => {}); // a frozen task dies only once thawed
    await cg.killAll().catch(() => {}); // what is left shows in destroy()
    await cg.destroy().catch((e) => failed.push(e));
    removeCtrLevel(cg.paths);
  }
  if (s.volumes?.length) {
    const { releaseVolumes } = await import("./volume.ts");
    try {
      releaseVolumes(s, stateDir);
    } catch (e) {
      failed.push(e);
    }
  }
  if (s.userNet) {
    const { stopUserModeNet } = await import("../network/usermode.ts");
    stopUserModeNet(s.userNet);
  }
  await releaseNetworks(s, stateDir).catch((e) => failed.push(e));
  if (failed.length > 0) throw failed[0];
}

/**
 * The ctr networks a container is on: its live endpoints while it runs,
 * else those its configuration joins at its next start.
 */
export function containerNetworks(s: ContainerState): string[] {
  const n = s.config?.network;
  if (isRunning(s) || !n) return endpointsOf(s).map((e) => e.network);
  return n.name === undefined ? [] : [n.name, ...(n.more ?? []).map((e) => e.name)];
}

/** A container's endpoints as its record names them: its first network's, then the others. */
export function endpointsOf(s: ContainerState): EndpointRecord[] {
  const first: EndpointRecord[] = s.network
    ? [{
      network: s.network,
      index: 0,
      veth: s.veth ?? vethName(s.id),
      ruleComment: s.ruleComment ?? ruleComment(s.id),
    }]
    : [];
  return [...first, ...(s.endpoints ?? [])];
}

/**
 * Releases a container's networks as its record names them (veth, rules,
 * lease, peers' hosts files), but the endpoints in `skip` (released by their
 * own handles). Tolerant of what is gone; the first failure is thrown once
 * every endpoint was tried.
 */
export async function releaseNetworks(
  s: ContainerState,
  stateDir: string,
  skip: ReadonlySet<number> = new Set(),
): Promise<void> {
  const endpoints = endpointsOf(s).filter((e) => !skip.has(e.index));
  if (endpoints.length === 0) return;
  const { detachContainer, NetworkStore } = await import("../network/mod.ts");
  const store = new NetworkStore({ root: s.root ?? "/var/lib/ctr", stateDir });
  const failed: unknown[] = [];
  for (const e of endpoints) {
    const network = store.find(e.network);
    // Released more than once (the watcher, then rm -f): only the first is an event.
    const leased = network !== undefined &&
      store.leases(network).list().some((l) => l.containerId === s.id);
    await detachContainer({
      store,
      network: e.network,
      containerId: s.id,
      endpoint: e.index,
      veth: e.veth,
    }).catch((err) => failed.push(err));
    if (leased) networkEvent(stateDir, network, "disconnect", s.id);
  }
  if (failed.length > 0) throw failed[0];
}

/**
 * Brings recorded states up to date where nobody else will: a container
 * whose PID 1 and watcher are both gone (the watcher was killed, the host
 * crashed) is released and recorded as exited. Returns the states as they
 * are now.
 */
export async function reconcile(dir: StateDir): Promise<ContainerState[]> {
  const all = dir.list();
  // A "created" one whose starter died (killed half-way through the start) ends the same way.
  const stale = all.filter((s) =>
    (s.status === "running" || s.status === "paused" || s.status === "restarting" ||
      s.status === "created") &&
    !isAlive(s) && !watcherAlive(s) && s.watcher !== undefined
  );
  if (stale.length === 0) return all;
  for (const s of stale) await finishStale(dir, s);
  return dir.list();
}

async function finishStale(dir: StateDir, s0: ContainerState): Promise<void> {
  // Locked on its exit record as `ctr __exited` (and a server doing its work) lock it: one of
  // them does the work. Without a record (its watcher died first) neither of them acts.
  const lock = await FileLock.acquireExisting(dir.exitFile(s0.id));
  try {
    const s = dir.get(s0.id);
    if (!s) return; // removed meanwhile
    if (s.status !== "exited" && !isAlive(s) && !watcherAlive(s)) await finishStaleLocked(dir, s);
  } finally {
    lock?.release();
  }
}

async function finishStaleLocked(dir: StateDir, s: ContainerState): Promise<void> {
  const ex = readExit(dir, s.id);
  if (s.status !== "created") {
    containerEvent(dir.dir, s, "die", { exitCode: String(ex?.exitCode ?? 255) });
    volumeMountEvents(dir.dir, s, "unmount");
  }
  let error: string | undefined;
  await releaseResources(s, dir.dir).catch((e) => error = `cannot release: ${e.message}`);
  if (s.autoRemove && error === undefined && s.status !== "created") {
    // --rm (AutoRemove) whose exit nobody finished: removed, as its watcher would have.
    removeTree(s.dir);
    await dir.locked(() => dir.remove(s.id));
    containerEvent(dir.dir, s, "destroy");
    return;
  }
  await dir.update(s.id, (cur) => ({
    ...cur,
    status: "exited",
    // Unknown when the watcher died before the container: docker reports 255 then.
    exitCode: ex?.exitCode ?? 255,
    finishedAt: ex?.finishedAt ?? new Date().toISOString(),
    ...(error !== undefined && { error }),
  }));
}

/** Whether a container's log is complete: it ended and its watcher has drained it (or is gone). */
export function logEnded(dir: StateDir, id: string): boolean {
  const cur = dir.get(id);
  return !cur || cur.status === "exited" || (!isRunning(cur) && !watcherAlive(cur));
}

/**
 * Sends a signal to the container's PID 1, making sure it is still that
 * process; with `stateDir`, records docker's `kill` event.
 */
export function signalContainer(s: ContainerState, signal: Deno.Signal, stateDir?: string): void {
  if (!isAlive(s)) throw new Error(`Container ${s.name} is not running`);
  Deno.kill(s.pid, signal);
  if (stateDir !== undefined) {
    containerEvent(stateDir, s, "kill", { signal: String(SIGNALS[signal] ?? signal) });
  }
}

/** Waits until PID 1 is gone; false on timeout. */
export async function waitGone(s: ContainerState, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (isAlive(s)) {
    if (Date.now() >= end) return false;
    await sleep(20);
  }
  return true;
}

/**
 * Waits until the container is recorded as ended (its watcher has released
 * it); if the watcher is gone, does that work here. Returns the final state,
 * or undefined when it was removed (--rm). The release starts a ctr process
 * per container, so a host busy with many of them (or an emulated one) can
 * take far longer than the usual tenth of a second: the limit is generous.
 */
export async function waitRecorded(
  dir: StateDir,
  id: string,
  timeoutMs = 120_000,
  onTick?: () => void,
): Promise<ContainerState | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    onTick?.();
    const s = dir.get(id);
    if (!s) return undefined;
    if (s.status === "exited") return s;
    // "created" is a start in progress while the process that starts it lives.
    if (s.status === "created" && !watcherAlive(s)) return s;
    if (s.status !== "created" && !isAlive(s) && !watcherAlive(s)) {
      await finishStale(dir, s);
      return dir.get(id);
    }
    if (Date.now() >= end) {
      throw new Error(`Timed out waiting for container ${s.name} to be released`);
    }
    await sleep(20);
  }
}

/**
 * docker stop: the stop signal, then SIGKILL after `timeoutS` seconds; returns
 * once the container is recorded as ended. No restart policy applies after.
 */
export async function stopContainer(
  dir: StateDir,
  s: ContainerState,
  timeoutS: number,
  signal: Deno.Signal = "SIGTERM",
): Promise<void> {
  await dir.update(s.id, (cur) => ({ ...cur, stoppedByUser: true }));
  if (isAlive(s)) {
    // A paused container cannot act on SIGTERM: thaw it first, as docker does.
    if (s.status === "paused") await cgroupOf(s)?.thaw().catch(() => {});
    try {
      signalContainer(s, signal, dir.dir);
    } catch { /* ended meanwhile */ }
    if (!(await waitGone(s, timeoutS * 1000))) {
      try {
        signalContainer(s, "SIGKILL", dir.dir);
      } catch { /* ended meanwhile */ }
      if (!(await waitGone(s, 10_000))) {
        throw new Error(`Container ${s.name} did not end after SIGKILL`);
      }
    }
  }
  await waitRecorded(dir, s.id);
  containerEvent(dir.dir, dir.get(s.id) ?? s, "stop");
}

/**
 * Removes a container: a running one only with `force` (killed first). Every
 * resource goes (cgroup, network, directory, state), whatever state its
 * watcher left it in.
 */
export async function removeContainer(
  dir: StateDir,
  s: ContainerState,
  force: boolean,
): Promise<void> {
  const starting = (s.status === "restarting" || s.status === "created") && watcherAlive(s);
  if (isRunning(s) || starting) {
    if (!force) {
      throw new Error(
        `You cannot remove a running container ${
          s.id.slice(0, 12)
        }. Stop the container before attempting removal or force remove`,
      );
    }
    await dir.update(s.id, (cur) => ({ ...cur, stoppedByUser: true }));
    await cgroupOf(s)?.thaw().catch(() => {});
    if (isAlive(s)) {
      try {
        signalContainer(s, "SIGKILL", dir.dir);
      } catch { /* gone */ }
      await waitGone(s, 10_000);
    }
  }
  // Its watcher releases it and ends (it may be doing so already, the container having ended
  // on its own); wait for that so the two do not race, then do it anyway.
  const end = Date.now() + 5000;
  while (watcherAlive(s) && Date.now() < end) await sleep(20);
  const cur = dir.get(s.id) ?? s;
  await releaseResources(cur, dir.dir);
  trace("rm: released");
  removeTree(cur.dir);
  trace("rm: directory removed");
  await dir.locked(() => dir.remove(cur.id));
  containerEvent(dir.dir, cur, "destroy");
}
