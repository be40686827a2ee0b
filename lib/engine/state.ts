/**
 * Runtime state of containers, one JSON file per container under the state
 * directory (default /run/ctr): what other ctr commands need to find a running
 * container (its pid and the pid's start time, so a reused pid is never taken
 * for it; its cgroup; its name). Files are written whole (temp name, rename).
 * @module
 */

import { exists, unlink } from "../../ffi/sys.ts";
import { FileLock } from "../os/lock.ts";
import { createAtomic, sweepTemp, writeAtomic } from "../os/atomic.ts";
import type { ContainerConfig } from "../config/container.ts";
import type { PortMapping } from "../network/ports.ts";
import type { RestartPolicy } from "../config/rules.ts";

/** One health check's outcome, as docker's inspect shows State.Health.Log entries. */
export interface HealthLogEntry {
  readonly Start: string;
  readonly End: string;
  /** The check's exit code; -1 when it timed out or could not run. */
  readonly ExitCode: number;
  /** Its output, cut at 4096 bytes. */
  readonly Output: string;
}

/** A container's health, as docker's inspect shows State.Health. */
export interface HealthState {
  readonly Status: "starting" | "healthy" | "unhealthy";
  readonly FailingStreak: number;
  /** The last 5 checks, oldest first. */
  readonly Log: readonly HealthLogEntry[];
}

/** A container's endpoint on a further network (see network/names.ts). */
export interface EndpointRecord {
  readonly network: string;
  /** k: its interface is eth<k>. */
  readonly index: number;
  readonly veth: string;
  readonly ruleComment: string;
  readonly aliases?: readonly string[];
  readonly ip?: string;
  readonly prefixLen?: number;
  readonly gateway?: string;
  readonly mac?: string;
  /** docker's NetworkID and EndpointID of it, once it is made. */
  readonly networkId?: string;
  readonly endpointId?: string;
}

/** The state of one container. */
export interface ContainerState {
  readonly id: string;
  readonly name: string;
  /** PID 1 of the container, in ctr's pid namespace. */
  readonly pid: number;
  /** Its start time in clock ticks since boot (/proc/PID/stat field 22). */
  readonly startTime: number;
  readonly status: "created" | "running" | "paused" | "restarting" | "exited";
  readonly created: string;
  readonly image: string;
  readonly command: readonly string[];
  /** The container's directory (upper, work, merged). */
  readonly dir: string;
  /**
   * Every cgroup directory the container has or may have (absolute paths):
   * recorded before any is made, fallbacks included (see CgroupPlan).
   */
  readonly cgroups: readonly string[];
  /** Its cgroup by hierarchy name (`memory`, `cpu,cpuacct`, `unified`), to reopen it. */
  readonly cgroupPaths: Readonly<Record<string, string>>;
  /** The ctr network it joins, if any (its lease is in that network's lease file). */
  readonly network?: string;
  /** The host end of its veth pair, named before it is made. */
  readonly veth?: string;
  /** The comment on its packet filter rules (`ctr:<id>`). */
  readonly ruleComment?: string;
  /**
   * Its further networks (endpoints 1, 2, ...: `network connect`), each
   * recorded before its objects are made; its address once it has one.
   */
  readonly endpoints?: readonly EndpointRecord[];
  /** Its user-mode network stack (slirp4netns, pasta): the process to stop at its end. */
  readonly userNet?: {
    readonly kind: string;
    readonly pid: number;
    readonly startTime: number;
  };
  /** ctr's --root when it started (networks are recorded there). */
  readonly root?: string;
  readonly exitCode?: number;
  readonly oomKilled?: boolean;
  /** The whole configuration: what `start`, `exec` and `inspect` need. */
  readonly config?: ContainerConfig;
  /** The process that waits for the container and cleans up after it (ctr run, or a watcher). */
  readonly watcher?: { readonly pid: number; readonly startTime: number };
  /** When the container last started and ended (RFC 3339). */
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** Where a detached container's output goes (json-lines, rotated), and the rotation. */
  readonly logPath?: string;
  readonly logOptions?: { readonly maxSize: number; readonly maxFiles: number };
  /** --label k=v. */
  readonly labels?: Readonly<Record<string, string>>;
  /** The --restart policy and how often it restarted the container. */
  readonly restartPolicy?: RestartPolicy;
  readonly restartCount?: number;
  /** Stopped by `ctr stop` or `ctr kill`: the restart policy does not apply. */
  readonly stoppedByUser?: boolean;
  /** --rm: removed when it ends. */
  readonly autoRemove?: boolean;
  /** docker's NetworkID and EndpointID of its first network, while it is on it. */
  readonly networkId?: string;
  readonly endpointId?: string;
  /** The address, gateway, MAC and published ports on its network. */
  readonly ip?: string;
  readonly prefixLen?: number;
  readonly gateway?: string;
  readonly mac?: string;
  readonly ports?: readonly PortMapping[];
  /** The image's exposed ports (`80/tcp`): `ps` shows those not published, as docker does. */
  readonly exposedPorts?: readonly string[];
  /** Names of the named volumes it mounts: they stay in use while the container is recorded. */
  readonly volumes?: readonly string[];
  /** The --security-opt values as docker records them (HostConfig.SecurityOpt). */
  readonly securityOpt?: readonly string[];
  /** Why the last start failed, when it did. */
  readonly error?: string;
  /** Its health, when it has a health check. */
  readonly health?: HealthState;
  /** Close its stdin when an attached client's input ends (docker's StdinOnce: `-i` attached). */
  readonly stdinOnce?: boolean;
  /** `--cidfile`, as docker's inspect shows HostConfig.ContainerIDFile. */
  readonly cidfile?: string;
  /** `--log-driver none`: its output is not kept. */
  readonly noLog?: boolean;
}

// Resource limits (rlimits) are 64-bit: bigints, which JSON has no form for.
const toJson = (_k: string, v: unknown) => (typeof v === "bigint" ? { $bigint: `${v}` } : v);

/** `{"$bigint": "N"}` objects below `v` (an object) turned back into bigints, in place. */
function revive(v: Record<string, unknown>): unknown {
  const n = v.$bigint;
  // Anything else of that shape (a label named `$bigint`) stays as it is.
  if (typeof n === "string" && /^-?\d+$/.test(n) && Object.keys(v).length === 1) return BigInt(n);
  for (const k of Object.keys(v)) {
    const x = v[k];
    if (x === null || typeof x !== "object") continue;
    const r = revive(x as Record<string, unknown>);
    if (r !== x) v[k] = r;
  }
  return v;
}

/**
 * A record's text as a state. A plain parse and a walk that revives the few
 * bigints: servers read records many times a container, and a reviver
 * function called for every key of the configuration costs several times more.
 */
function parseState(text: string): ContainerState {
  const s = JSON.parse(text);
  return (text.includes('"$bigint"') ? revive(s) : s) as ContainerState;
}

/** A full container id: `find` takes it as an id before any name, as docker's daemon does. */
const FULL_ID = /^[0-9a-f]{64}$/;

/** The state directory and its files. */
export class StateDir {
  constructor(readonly dir: string) {}

  #file(id: string): string {
    return `${this.dir}/${id}.json`;
  }

  /** Runs `fn` holding the state directory's lock (names stay unique). */
  async locked<T>(fn: () => T | Promise<T>): Promise<T> {
    Deno.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const lock = await FileLock.acquire(`${this.dir}/.lock`, "exclusive");
    try {
      return await fn();
    } finally {
      lock.release();
    }
  }

  /** Writes a container's state atomically. */
  write(s: ContainerState): void {
    Deno.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // A record describes this boot only: it need not reach the disk before it replaces the last.
    writeAtomic(this.#file(s.id), JSON.stringify(s, toJson, 2) + "\n", { volatile: true });
  }

  /**
   * Records a new container (its id must be unrecorded): all of it or
   * nothing, even if this process is killed while it writes.
   */
  create(s: ContainerState): void {
    Deno.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    createAtomic(this.#file(s.id), JSON.stringify(s, toJson, 2) + "\n");
  }

  /** Every recorded container. */
  list(): ContainerState[] {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(this.dir)];
    } catch {
      return [];
    }
    const out: ContainerState[] = [];
    for (const e of entries) {
      if (!e.isFile || !e.name.endsWith(".json")) continue;
      try {
        out.push(parseState(Deno.readTextFileSync(`${this.dir}/${e.name}`)));
      } catch { /* being replaced right now */ }
    }
    return out;
  }

  /** Finds a container by full id, name or unique id prefix (at least 3 characters). */
  find(ref: string): ContainerState {
    // docker's clients name a container by the full id its create answered: one record to read.
    const exact = FULL_ID.test(ref) ? this.get(ref) : undefined;
    if (exact) return exact;
    const all = this.list();
    const byName = all.find((s) => s.name === ref);
    if (byName) return byName;
    const byId = ref.length >= 3 ? all.filter((s) => s.id.startsWith(ref)) : [];
    if (byId.length === 1) return byId[0];
    if (byId.length > 1) {
      throw new Error(`${ref} matches ${byId.length} containers: give more of the id`);
    }
    throw new Error(`No such container: ${ref}`);
  }

  /** Whether a container's record is there (a statx: nothing is read). */
  has(id: string): boolean {
    return exists(this.#file(id));
  }

  /** The state of one container by full id, or undefined. */
  get(id: string): ContainerState | undefined {
    try {
      return parseState(Deno.readTextFileSync(this.#file(id)));
    } catch {
      return undefined;
    }
  }

  /**
   * Changes a container's recorded state under the lock (read, change,
   * write); returns the new state, or undefined when it is gone.
   */
  async update(
    id: string,
    fn: (s: ContainerState) => ContainerState,
  ): Promise<ContainerState | undefined> {
    return await this.locked(() => {
      const s = this.get(id);
      if (!s) return undefined;
      const next = fn(s);
      this.write(next);
      return next;
    });
  }

  /** Where a watcher writes the exit status of a container's process. */
  exitFile(id: string): string {
    return `${this.dir}/${id}.exit`;
  }

  /** The socket where a detached container's watcher takes attached clients. */
  attachSocket(id: string): string {
    return `${this.dir}/${id}.sock`;
  }

  /**
   * Removes a container's state file, its exit file, its attach socket and
   * the temporary file of a writer of its record that was killed between
   * write and rename.
   */
  remove(id: string): void {
    for (const f of [this.#file(id), this.exitFile(id), this.attachSocket(id)]) unlink(f);
    sweepTemp(this.dir, `${id}.`);
  }
}
