/**
 * The OCI runtime's commands on a container that exists: `start`, `kill`,
 * `delete`, `pause`/`resume` and `ps`. Each loads what it uses: the cgroup
 * drivers when it touches the cgroup, the hooks' launcher when the config
 * has hooks (`start` of a container without hooks reads its record and its
 * fifo, nothing more).
 * @module
 */

import { O, signalByName } from "../../ffi/constants.ts";
import { addressOf, close, open, sysRaw, waitReadable } from "../../ffi/sys.ts";
import type { Cgroup } from "../cgroups/mod.ts";
import { isAlive } from "../os/proc.ts";
import { trace } from "../trace.ts";
import type { Hook, HookPlace } from "./hooks.ts";
import { checkId, OciError, type OciRecord, type OciRoot, removeContainerDir } from "./state.ts";

/** How long `start` waits for a created container to take its go. */
const START_TIMEOUT_MS = 30_000;

/**
 * Runs the hooks of one kind in order, the state on each one's stdin; the
 * first failure throws. Their launcher is loaded only when there are any.
 */
export async function runHooks(
  kind: string,
  hooks: readonly Hook[] | undefined,
  state: Record<string, unknown>,
  inside?: HookPlace,
): Promise<void> {
  if (!hooks?.length) return;
  const { runHook } = await import("./hooks.ts");
  const text = JSON.stringify(state);
  for (const h of hooks) await runHook(kind, h, text, inside);
}

/**
 * The container's cgroup, if it has one. The drivers are loaded here, not
 * by the module: `start` and `state` never need them.
 */
async function cgroupOf(
  r: Pick<OciRecord, "id" | "cgroupPaths" | "cgroupParents">,
): Promise<Cgroup | undefined> {
  if (Object.keys(r.cgroupPaths).length === 0) return undefined;
  const { openCgroupDriver } = await import("../cgroups/mod.ts");
  return openCgroupDriver().open(r.id, r.cgroupPaths, r.cgroupParents ?? []);
}

/**
 * Kills what is left in every cgroup the record names and removes them;
 * what is already gone is skipped. Throws the first failure, after trying
 * all: the caller keeps the record then.
 */
export async function releaseCgroups(r: OciRecord): Promise<void> {
  const { openCgroupDriver, removeCtrLevel } = await import("../cgroups/mod.ts");
  const main = await cgroupOf(r);
  const known = new Set(Object.values(r.cgroupPaths));
  const others = (r.cgroups ?? []).filter((d) => !known.has(d));
  const all = [
    ...(main ? [main] : []),
    ...others.map((d) => openCgroupDriver().open(r.id, { unified: d })),
  ];
  let failed: unknown;
  for (const cg of all) {
    await cg.thaw().catch(() => {});
    await cg.killAll().catch(() => {});
    await cg.destroy().catch((e) => failed ??= e);
    removeCtrLevel(cg.paths);
  }
  if (failed !== undefined) throw failed;
}

/** `start`: lets a created container run its command. */
export async function ociStart(root: OciRoot, id: string): Promise<void> {
  const r = root.read(id);
  const status = root.status(r);
  if (status !== "created") {
    throw new OciError(`cannot start a container that is ${status}: ${id}`);
  }
  const hooks = r.config.hooks;
  // In the container (its namespaces and root), before its command runs.
  if (hooks?.startContainer?.length) {
    await runHooks("startContainer", hooks.startContainer, root.state(r), {
      pid: r.pid,
      root: true,
    });
  }
  const fifo = root.fifo(id);
  // Opening for reading lets the container's open for writing return; its byte says it goes
  // on. Non-blocking, and waited on with a timeout, so that a container that died meanwhile
  // cannot hang start.
  const fd = open(fifo, O.RDONLY | O.NONBLOCK);
  try {
    const buf = new Uint8Array(1);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      waitReadable(fd, 100, fifo);
      const n = sysRaw("read", fd, addressOf(buf), 1);
      if (n === 1) break;
      if (!isAlive(r)) throw new OciError(`container ${id} ended before it could start`);
      if (Date.now() > deadline) throw new OciError(`container ${id} did not start within 30 s`);
      // 0: the writer hung up without its byte, and the fifo stays readable (no wait in poll).
      if (n === 0) await new Promise((res) => setTimeout(res, 10));
    }
  } finally {
    close(fd);
  }
  Deno.removeSync(fifo);
  // The command was running when its byte came: the hook is told so even if it has
  // ended by now (the spec calls poststart "after the user-specified process is
  // executed"; a hook needs the pid to reach its namespaces).
  if (!hooks?.poststart?.length) return;
  const running = { ...root.state(r), status: "running", pid: r.pid };
  await runHooks("poststart", hooks.poststart, running).catch((e) => {
    // A failed poststart hook is reported, not fatal (the spec says: log a warning).
    console.error(`ctr: warning: ${(e as Error).message}`);
  });
}

/** `kill`: a signal to the container's process (or every process in its cgroup). */
export async function ociKill(
  root: OciRoot,
  id: string,
  signal: string,
  all: boolean,
): Promise<void> {
  const r = root.read(id);
  let sig: Deno.Signal;
  try {
    sig = signalByName(signal);
  } catch (e) {
    throw new OciError((e as Error).message);
  }
  const status = root.status(r);
  // --all reaches what is left in the cgroup even after PID 1 ended (runc does the same).
  if ((status === "stopped" || r.pid <= 0) && !all) {
    throw new OciError(`container not running: ${id}`);
  }
  if (all) {
    const cg = await cgroupOf(r);
    if (cg) {
      if (sig === "SIGKILL") return await cg.killAll();
      for (const pid of cg.pids()) {
        try {
          Deno.kill(pid, sig);
        } catch { /* gone */ }
      }
      return;
    }
  }
  // Never pid 0 (a create killed before it started the process): kill(0) is the process group.
  if (r.pid <= 0) throw new OciError(`container not running: ${id}`);
  Deno.kill(r.pid, sig);
}

/**
 * `delete`: removes a stopped container (`force`: kills it first), then runs
 * poststop hooks. What goes is what its record names (a create killed
 * half-way recorded its cgroup before making it); a cgroup that cannot be
 * removed keeps the record, for another try.
 */
export async function ociDelete(root: OciRoot, id: string, force: boolean): Promise<void> {
  checkId(id);
  let r: OciRecord;
  try {
    r = root.read(id);
  } catch (e) {
    // A create killed before its first record has a directory and nothing else: force
    // removes it. Forcing the delete of one that does not exist is no error (runc's and
    // crun's answer too: containerd's cleanup of a dead shim relies on it).
    if (force) {
      removeContainerDir(root, id);
      return;
    }
    throw e;
  }
  const status = root.status(r);
  if (status !== "stopped") {
    if (!force && status !== "created") {
      throw new OciError(`cannot delete container ${id} that is not stopped: ${status}`);
    }
    await (await cgroupOf(r))?.thaw().catch(() => {});
    if (r.pid > 0) {
      try {
        Deno.kill(r.pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await (await cgroupOf(r))?.killAll().catch(() => {});
    for (let i = 0; i < 500 && r.pid > 0 && isAlive(r); i++) {
      await new Promise((res) => setTimeout(res, 10));
    }
  }
  trace("oci delete: killed");
  try {
    await releaseCgroups(r);
  } catch (e) {
    throw new OciError(`cannot delete container ${id}: ${(e as Error).message}`);
  }
  trace("oci delete: cgroup removed");
  removeContainerDir(root, id);
  const poststop = r.config.hooks?.poststop;
  if (!poststop?.length) return;
  await runHooks("poststop", poststop, { ...root.state(r), status: "stopped" })
    .catch((e) => console.error(`ctr: warning: ${(e as Error).message}`));
}

/** `pause` / `resume`: the freezer. */
export async function ociFreeze(root: OciRoot, id: string, freeze: boolean): Promise<void> {
  const r = root.read(id);
  const status = root.status(r);
  if (freeze && status !== "running") throw new OciError(`container not running: ${id}`);
  if (!freeze && status !== "paused") throw new OciError(`container not paused: ${id}`);
  const cg = await cgroupOf(r);
  if (!cg) throw new OciError(`container ${id} has no cgroup`);
  if (freeze) await cg.freeze();
  else await cg.thaw();
}

/** The pids in the container's cgroup. */
export async function ociPids(root: OciRoot, id: string): Promise<number[]> {
  const r = root.read(id);
  return (await cgroupOf(r))?.pids() ?? (isAlive(r) ? [r.pid] : []);
}
