/**
 * The OCI runtime's records: ROOT/ID/state.json per container (default ROOT
 * /run/ctr-oci), and the status the spec defines, read from the container's
 * process, its exec fifo and its freezer. What every OCI command loads, so
 * it imports nothing that starts or plans a container.
 * @module
 */

import { writeAtomic } from "../os/atomic.ts";
import { isAlive, type ProcessRef } from "../os/proc.ts";
import { compareStrings } from "../os/order.ts";
import type { OciConfig } from "./config_json.ts";

/** The OCI runtime spec version ctr implements. */
export const OCI_VERSION = "1.2.0";

/** The container states of the OCI runtime spec. */
export type OciStatus = "creating" | "created" | "running" | "stopped" | "paused";

/**
 * What ctr records of an OCI container. `create` writes it twice: first
 * with pid 0 and the cgroup it is about to make (so a create killed
 * half-way leaves nothing that `delete --force` cannot find), then with
 * the container's process once it waits for `start`.
 */
export interface OciRecord {
  readonly id: string;
  /** The container's process; 0 while create has not started it. */
  readonly pid: number;
  readonly startTime: number;
  readonly bundle: string;
  readonly rootfs: string;
  readonly created: string;
  readonly annotations: Record<string, string>;
  /** Its cgroup by hierarchy (recorded before it is made). */
  readonly cgroupPaths: Record<string, string>;
  /** Every cgroup directory create may make (fallbacks included); absent in older records. */
  readonly cgroups?: readonly string[];
  /**
   * The parent cgroups ctr made for it (or for another container of this root
   * that shares them), which delete removes once they are empty. Absent in
   * records of older versions.
   */
  readonly cgroupParents?: readonly string[];
  /** The `create` that makes it (while pid is 0): a live one means "creating". */
  readonly creator?: ProcessRef;
  readonly config: OciConfig;
}

/** The runtime's state directory. */
export class OciRoot {
  constructor(readonly dir: string) {}

  containerDir(id: string): string {
    return `${this.dir}/${id}`;
  }

  fifo(id: string): string {
    return `${this.containerDir(id)}/exec.fifo`;
  }

  read(id: string): OciRecord {
    checkId(id);
    try {
      return JSON.parse(Deno.readTextFileSync(`${this.containerDir(id)}/state.json`));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new OciError(`container does not exist: ${id}`);
      throw e;
    }
  }

  write(r: OciRecord): void {
    writeAtomic(`${this.containerDir(r.id)}/state.json`, JSON.stringify(r));
  }

  list(): OciRecord[] {
    const out: OciRecord[] = [];
    try {
      for (const e of Deno.readDirSync(this.dir)) {
        if (!e.isDirectory) continue;
        try {
          out.push(this.read(e.name));
        } catch { /* being created or deleted */ }
      }
    } catch { /* no root yet */ }
    return out.sort((a, b) => compareStrings(a.created, b.created));
  }

  /** The container's status now, from its process, its fifo and its cgroup. */
  status(r: OciRecord): OciStatus {
    if (r.pid === 0) return r.creator && isAlive(r.creator) ? "creating" : "stopped";
    if (!isAlive(r)) return "stopped";
    try {
      Deno.statSync(this.fifo(r.id));
      return "created";
    } catch { /* started */ }
    if (isFrozen(r)) return "paused";
    return "running";
  }

  /** The state JSON of the spec. */
  state(r: OciRecord): Record<string, unknown> {
    const status = this.status(r);
    return {
      ociVersion: OCI_VERSION,
      id: r.id,
      status,
      pid: status === "stopped" ? 0 : r.pid,
      bundle: r.bundle,
      rootfs: r.rootfs,
      created: r.created,
      owner: "",
      ...(Object.keys(r.annotations).length ? { annotations: r.annotations } : {}),
    };
  }
}

/** An error of the runtime (printed as runc does, exit status 1). */
export class OciError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = "OciError";
  }
}

export function checkId(id: string): void {
  if (!/^[\w+.-]+$/.test(id) || id === "." || id === "..") {
    throw new OciError(`invalid container id ${JSON.stringify(id)}`);
  }
}

/** Whether the freezer holds the container (v1 freezer.state, v2 cgroup.freeze). */
function isFrozen(r: Pick<OciRecord, "cgroupPaths">): boolean {
  for (const [h, p] of Object.entries(r.cgroupPaths)) {
    const file = h.includes("freezer") ? "freezer.state" : "cgroup.freeze";
    try {
      const v = Deno.readTextFileSync(`${p}/${file}`).trim();
      if (v === "FROZEN" || v === "FREEZING" || v === "1") return true;
    } catch { /* not this hierarchy's file */ }
  }
  return false;
}

/** Removes a container's state directory. */
export function removeContainerDir(root: OciRoot, id: string): void {
  checkId(id); // never "." or "..": this deletes a tree
  // Nothing is ever mounted here (the container's mounts live in its own namespace).
  try {
    Deno.removeSync(root.containerDir(id), { recursive: true });
  } catch { /* gone */ }
}
