/**
 * Changes to a recorded container that need no restart: its name (`ctr
 * rename`, peers on its network learn the new one) and its resources and
 * restart policy (`ctr update`: written to the live cgroup of a running
 * container, and recorded so the next start applies them too).
 * @module
 */

import type { Limits } from "../cgroups/limits.ts";
import type { RestartPolicy } from "../config/rules.ts";
import { containerNameProblem } from "../config/rules.ts";
import type { ContainerState, StateDir } from "./state.ts";
import { cgroupOf, isRunning } from "./lifecycle.ts";
import { containerEvent } from "./events.ts";

/** Gives a container another name; returns its new state. */
export async function renameContainer(
  dir: StateDir,
  ref: string,
  name: string,
): Promise<ContainerState> {
  const bare = name.replace(/^\//, "");
  const problem = containerNameProblem(bare);
  if (problem) throw new Error(`Error when allocating new name: ${problem}`);
  const s = dir.find(ref);
  if (s.name === bare) {
    throw new Error("Renaming a container with the same name as its current name");
  }
  const next = await dir.locked(() => {
    const taken = dir.list().find((c) => c.name === bare && c.id !== s.id);
    if (taken) {
      throw new Error(
        `Conflict. The container name "/${bare}" is already in use by container "${taken.id}". ` +
          "You have to remove (or rename) that container to be able to reuse that name.",
      );
    }
    const cur = dir.get(s.id);
    if (!cur) throw new Error(`No such container: ${ref}`);
    const renamed: ContainerState = {
      ...cur,
      name: bare,
      ...(cur.config && { config: { ...cur.config, name: bare, nameGenerated: false } }),
    };
    dir.write(renamed);
    return renamed;
  });
  if ((next.network || next.endpoints?.length) && isRunning(next)) {
    const { NetworkStore, renameOnNetwork } = await import("../network/mod.ts");
    const store = new NetworkStore({ root: next.root ?? "/var/lib/ctr", stateDir: dir.dir });
    await renameOnNetwork({ store, containerId: next.id, name: bare });
  }
  containerEvent(dir.dir, next, "rename", { oldName: `/${s.name}` });
  return next;
}

/** What `ctr update` changes. */
export interface ContainerUpdate {
  /** Limits to set (absent fields are left as they are). */
  readonly limits?: Limits;
  readonly restart?: RestartPolicy;
}

/**
 * Limits merged as the next start will apply them: `next` over `current`,
 * `--memory-swap` following `--memory` when only the memory changes and the
 * recorded swap would fall below it.
 */
export function mergeLimits(current: Limits, next: Limits): Limits {
  const out: Record<string, unknown> = { ...current, ...next };
  if (next.cpuQuota !== undefined && next.cpuPeriod === undefined && current.cpuPeriod) {
    out.cpuPeriod = current.cpuPeriod;
  }
  return out as Limits;
}

/**
 * Applies an update: for a running container, writes the limits to its
 * cgroup first (a limit the kernel refuses leaves the record unchanged);
 * then records limits and restart policy. Returns the new state.
 */
export async function updateContainer(
  dir: StateDir,
  s: ContainerState,
  u: ContainerUpdate,
): Promise<ContainerState> {
  if (u.restart && u.restart.name !== "no" && s.autoRemove) {
    throw new Error(
      "Restart policy cannot be updated because AutoRemove is enabled for the container",
    );
  }
  if (u.limits && Object.keys(u.limits).length > 0 && isRunning(s)) {
    const cg = cgroupOf(s);
    if (!cg) throw new Error(`Cannot update container ${s.name}: it has no cgroup`);
    const current = s.config?.cgroup.limits ?? {};
    const limits = { ...u.limits };
    // The kernel takes a swap limit only with a memory limit: keep the recorded one.
    if (limits.memorySwap !== undefined && limits.memory === undefined && current.memory) {
      (limits as { memory?: number }).memory = current.memory;
    }
    if (limits.cpuQuota !== undefined && limits.cpuPeriod === undefined && current.cpuPeriod) {
      (limits as { cpuPeriod?: number }).cpuPeriod = current.cpuPeriod;
    }
    try {
      cg.apply(limits);
    } catch (e) {
      throw new Error(`Cannot update container ${s.name}: ${(e as Error).message}`);
    }
  }
  const next = await dir.update(s.id, (cur) => ({
    ...cur,
    ...(u.restart && { restartPolicy: u.restart }),
    ...(u.limits && cur.config && {
      config: {
        ...cur.config,
        cgroup: {
          ...cur.config.cgroup,
          limits: mergeLimits(cur.config.cgroup.limits, u.limits),
        },
      },
    }),
  }));
  if (!next) throw new Error(`No such container: ${s.id}`);
  containerEvent(dir.dir, next, "update");
  return next;
}
