/**
 * ctr as an OCI runtime (what runc and crun are to podman, containerd and
 * docker): a bundle's config.json becomes the same ContainerConfig a
 * `ctr run` builds, and the same plan runs it. `create` sets the container
 * up and leaves it waiting on an exec fifo (the plan's last steps before
 * execve), owned by the caller, who is its subreaper; `start` opens the fifo
 * and the command runs. State lives in ROOT/ID/state.json (default ROOT
 * /run/ctr-oci).
 * @module
 */

import { MS, O, PROPAGATION_FLAGS, signalByName, SIGNALS } from "../../ffi/constants.ts";
import { addressOf, close, open, pipe, readAsync, sys, sysRaw, writeAll } from "../../ffi/sys.ts";
import { sendFd } from "../../ffi/unix_socket.ts";
import type {
  ContainerConfig,
  IdMap,
  NsMode,
  NsType,
  OciDevice,
  OciMount,
  Rlimit,
} from "../config/container.ts";
import { type Cgroup, openCgroupDriver, removeCtrLevel } from "../cgroups/mod.ts";
import type { DeviceRule, Limits } from "../cgroups/limits.ts";
import { FileLock } from "../os/lock.ts";
import { writeAtomic } from "../os/atomic.ts";
import { int, type Plan, PlanError, type Step } from "../runtime/plan.ts";
import { planFailure } from "../runtime/errors.ts";
import { enabledLsms, readPlanHost, stdioCopies } from "../runtime/host.ts";
import { launchJoined } from "../runtime/launch.ts";
import { differingNamespaces } from "../runtime/namespaces.ts";
import { PHASE_CREATED, PHASE_SECCOMP_LISTENER } from "../runtime/process.ts";
import { LISTENER_SLOT } from "../runtime/seccomp/mod.ts";
import type { WaitingChild } from "../runtime/spawn.ts";
import { PHASE_PREPIVOT } from "../runtime/rootfs.ts";
import { signalPidfd, spawn, waitPidfd } from "../runtime/spawn.ts";
import { closeOtherFds, dupTo, execPath, unblockSignals } from "../runtime/steps.ts";
import { isAlive, type ProcessRef, processStartTime } from "../os/proc.ts";
import { trace } from "../trace.ts";
// The schema (zod) is loaded by create only: start, state, kill and delete do without it.
import type { OciConfig } from "./config_json.ts";
import { concat } from "../../ffi/bytes.ts";
import { settleWithin } from "../os/async.ts";
import { compareStrings } from "../os/order.ts";
import { setWindowSize } from "../runtime/tty.ts";
import { mknod } from "../os/mknod.ts";

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

function checkId(id: string): void {
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

function cgroupOf(r: Pick<OciRecord, "id" | "cgroupPaths" | "cgroupParents">): Cgroup | undefined {
  if (Object.keys(r.cgroupPaths).length === 0) return undefined;
  return openCgroupDriver().open(r.id, r.cgroupPaths, r.cgroupParents ?? []);
}

/**
 * Kills what is left in every cgroup the record names and removes them;
 * what is already gone is skipped. Throws the first failure, after trying
 * all: the caller keeps the record then.
 */
async function releaseCgroups(r: OciRecord): Promise<void> {
  const main = cgroupOf(r);
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

const NS_NAMES: Record<string, NsType> = {
  pid: "pid",
  network: "net",
  mount: "mnt",
  ipc: "ipc",
  uts: "uts",
  user: "user",
  cgroup: "cgroup",
};

function abs(bundle: string, p: string): string {
  const full = p.startsWith("/") ? p : `${bundle}/${p}`;
  const out: string[] = [];
  for (const c of full.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") out.pop();
    else out.push(c);
  }
  return "/" + out.join("/");
}

/** The cgroup limits of an OCI resources object. */
export function ociLimits(res: NonNullable<OciConfig["linux"]>["resources"]): Limits {
  const l: Record<string, unknown> = {};
  if (!res) return { devices: { allowAll: false, extra: [] } };
  const m = res.memory;
  if (m?.limit !== undefined && m.limit > 0) l.memory = m.limit;
  if (m?.swap !== undefined && m.swap !== 0) l.memorySwap = m.swap;
  if (m?.reservation !== undefined && m.reservation > 0) l.memoryReservation = m.reservation;
  if (m?.swappiness !== undefined) l.memorySwappiness = m.swappiness;
  if (m?.disableOOMKiller) l.oomKillDisable = true;
  const c = res.cpu;
  if (c?.shares) l.cpuShares = c.shares;
  if (c?.quota !== undefined && c.quota > 0) {
    l.cpuQuota = c.quota;
    l.cpuPeriod = c.period ?? 100000;
  }
  if (c?.cpus) l.cpusetCpus = c.cpus;
  if (c?.mems) l.cpusetMems = c.mems;
  if (res.pids?.limit !== undefined) l.pidsLimit = res.pids.limit > 0 ? res.pids.limit : null;
  const rates = (list?: { major: number; minor: number; rate: number }[]) =>
    (list ?? []).map((d) => ({ path: `${d.major}:${d.minor}`, ...d }));
  if (res.blockIO?.throttleReadBpsDevice?.length) {
    l.deviceReadBps = rates(res.blockIO.throttleReadBpsDevice);
  }
  if (res.blockIO?.throttleWriteBpsDevice?.length) {
    l.deviceWriteBps = rates(res.blockIO.throttleWriteBpsDevice);
  }
  // The rules come as a list that first denies everything; docker's (and
  // runc's) defaults are always allowed here, the list's allow rules added.
  const rules = res.devices ?? [];
  const allowAll = rules.some((d) =>
    d.allow && (!d.type || d.type === "a") && d.major === undefined && d.minor === undefined
  );
  const extra: DeviceRule[] = rules.filter((d) => d.allow && d.type && d.type !== "a").map((d) => ({
    type: d.type as "b" | "c",
    major: d.major === undefined || d.major < 0 ? "*" : d.major,
    minor: d.minor === undefined || d.minor < 0 ? "*" : d.minor,
    access: d.access ?? "rwm",
  }));
  l.devices = allowAll ? { allowAll: true } : { allowAll: false, extra };
  return l as Limits;
}

/**
 * A bundle's config.json as ctr's ContainerConfig (the same model `ctr run`
 * fills from docker's flags). Unsupported fields are an error.
 */
export async function ociToConfig(
  id: string,
  bundle: string,
  config: OciConfig,
  opts: {
    stateDir: string;
    gateFd?: number;
    preserveFds?: number;
    /** config.json's text, for the seccomp profile's 64-bit values (JSON.parse rounds them). */
    text?: string;
    closeFds?: readonly number[];
    warn?: (message: string) => void;
  },
): Promise<ContainerConfig> {
  const { mountFlags, unsupported } = await import("./config_json.ts");
  const problems = unsupported(config);
  if (problems.length) {
    throw new OciError(`unsupported configuration:\n  ${problems.join("\n  ")}`);
  }
  const mem = config.linux?.resources?.memory;
  for (const key of ["kernel", "kernelTCP"] as const) {
    if (mem?.[key] !== undefined) {
      opts.warn?.(
        `linux.resources.memory.${key}: ignored: kernel memory limits are deprecated in cgroup v1 ` +
          "and gone in v2 (runc ignores them too)",
      );
    }
  }
  const linux = config.linux ?? {};
  const namespaces: Record<NsType, NsMode> = {
    user: { kind: "host" },
    mnt: { kind: "host" },
    pid: { kind: "host" },
    uts: { kind: "host" },
    ipc: { kind: "host" },
    net: { kind: "host" },
    cgroup: { kind: "host" },
  };
  for (const n of linux.namespaces ?? []) {
    const t = NS_NAMES[n.type];
    if (!t) throw new OciError(`unsupported namespace type ${JSON.stringify(n.type)}`);
    namespaces[t] = n.path ? { kind: "path", path: n.path } : { kind: "new" };
  }
  const maps = (m?: { containerID: number; hostID: number; size: number }[]): IdMap[] =>
    (m ?? []).map((x) => ({ container: x.containerID, host: x.hostID, size: x.size }));
  const mounts: OciMount[] = (config.mounts ?? []).map((m) => {
    const f = mountFlags(m.options ?? []);
    const type = m.type ?? (f.bind ? "bind" : "none");
    const bind = f.bind || type === "bind";
    return {
      destination: m.destination,
      type,
      source: bind ? abs(bundle, m.source ?? "") : m.source ?? type,
      flags: f.flags | (bind ? MS.BIND : 0) | (f.recursive ? MS.REC : 0),
      data: f.data,
      propagation: f.propagation,
      bind,
    };
  });
  const devices: OciDevice[] = (linux.devices ?? []).map((d) => ({
    path: d.path,
    type: d.type as OciDevice["type"],
    major: d.major ?? 0,
    minor: d.minor ?? 0,
    mode: d.fileMode ?? 0o666,
    uid: d.uid ?? 0,
    gid: d.gid ?? 0,
  }));
  const p = config.process;
  if (!p) throw new OciError("config.json has no process");
  const capNames = (list?: string[]) => (list ?? []).map((c) => c.replace(/^CAP_/, ""));
  const caps = capNames(p.capabilities?.bounding);
  const capSets = {
    effective: capNames(p.capabilities?.effective),
    permitted: capNames(p.capabilities?.permitted),
    inheritable: capNames(p.capabilities?.inheritable),
    ambient: capNames(p.capabilities?.ambient),
  };
  const lsm = enabledLsms();
  for (
    const [what, value, on] of [
      ["process.apparmorProfile", p.apparmorProfile, lsm.apparmor],
      ["process.selinuxLabel", p.selinuxLabel, lsm.selinux],
      ["linux.mountLabel", linux.mountLabel, lsm.selinux],
    ] as const
  ) {
    if (value && !on) {
      const message = `${what} is ignored: this host does not run that security module`;
      if (opts.warn) opts.warn(message);
      else console.error(`ctr: warning: ${message}`);
    }
  }
  if (linux.mountLabel && lsm.selinux) {
    throw new OciError("linux.mountLabel: SELinux mount labels are not supported");
  }
  const rlimits: Rlimit[] = (p.rlimits ?? []).map((r) => ({
    type: r.type.replace(/^RLIMIT_/, "").toLowerCase(),
    soft: clamp(r.soft),
    hard: clamp(r.hard),
  }));
  const root = abs(bundle, config.root.path);
  return {
    id,
    layers: [root],
    dir: `${opts.stateDir}/${id}`,
    readOnly: config.root.readonly === true,
    namespaces,
    uidMap: maps(linux.uidMappings),
    gidMap: maps(linux.gidMappings ?? linux.uidMappings),
    name: id,
    image: bundle,
    cgroup: { parent: cgroupPlace(id, config).parent, limits: ociLimits(linux.resources) },
    network: { aliases: [], ports: [] },
    hostname: config.hostname,
    mounts: [],
    maskedPaths: linux.maskedPaths ?? [],
    readonlyPaths: linux.readonlyPaths ?? [],
    oci: {
      root,
      mounts,
      devices,
      rootPropagation: linux.rootfsPropagation ? PROPAGATION_FLAGS[linux.rootfsPropagation] : 0,
      sysctl: linux.sysctl ?? {},
      domainname: config.domainname,
      gateFd: opts.gateFd,
      umask: p.user.umask,
      preserveFds: opts.preserveFds,
      closeFds: opts.closeFds?.filter((fd) => fd >= 3 + (opts.preserveFds ?? 0)),
      syncBeforePivot: ["prestart", "createRuntime", "createContainer"].some((k) =>
        (config.hooks?.[k as "prestart"]?.length ?? 0) > 0
      ),
    },
    process: {
      args: p.args ?? [],
      env: p.env ?? [],
      cwd: p.cwd,
      uid: p.user.uid,
      gid: p.user.gid,
      groups: p.user.additionalGids ?? [],
      caps,
      capSets,
      noNewPrivileges: p.noNewPrivileges === true,
      rlimits,
      seccomp: linux.seccomp
        ? {
          kind: "profile",
          text: exactJson(opts.text, ["linux", "seccomp"], linux.seccomp),
          source: "linux.seccomp",
        }
        : undefined,
      apparmorProfile: p.apparmorProfile || undefined,
      selinuxLabel: p.selinuxLabel || undefined,
      terminal: p.terminal === true,
      stdin: true,
      dieWithParent: false,
    },
  };
}

/**
 * The JSON of the value at `path` in `text`, with integers above 2^53 as
 * written (JSON.parse rounds them); `parsed` when there is no text.
 */
function exactJson(text: string | undefined, path: readonly string[], parsed: unknown): string {
  if (text === undefined) return JSON.stringify(parsed);
  let v = JSON.parse(
    text,
    function (_k, value, ctx?: { source?: string }) {
      if (
        typeof value === "number" && !Number.isSafeInteger(value) && /^\d+$/.test(ctx?.source ?? "")
      ) {
        return (JSON as unknown as { rawJSON(s: string): unknown }).rawJSON(ctx!.source!);
      }
      return value;
    } as (this: unknown, key: string, value: unknown) => unknown,
  );
  for (const k of path) v = v?.[k];
  return JSON.stringify(v);
}

function clamp(v: number): bigint {
  // JSON numbers past 2^53 arrive rounded: the largest ones mean "unlimited".
  return v >= 2 ** 63 ? 0xffffffffffffffffn : BigInt(Math.floor(v));
}

/**
 * A SCMP_ACT_NOTIFY filter is installed: its listener fd, taken from the
 * waiting child (pidfd_getfd), goes to the seccomp agent at listenerPath
 * with the container process state, as the runtime spec says (one
 * connection, the fd by SCM_RIGHTS named in `fds`, then closed).
 */
function sendSeccompListener(
  config: OciConfig,
  state: Record<string, unknown>,
  child: WaitingChild,
): void {
  const seccomp = config.linux?.seccomp as { listenerPath?: string; listenerMetadata?: string };
  const path = seccomp?.listenerPath;
  if (!path) throw new OciError("linux.seccomp: SCMP_ACT_NOTIFY needs a listenerPath");
  const fd = Number(child.slot(LISTENER_SLOT.name) ?? -1n);
  const mine = sys("pidfd_getfd", "the seccomp listener", child.pidfd, fd, 0);
  try {
    sendFd(
      path,
      mine,
      JSON.stringify({
        ociVersion: OCI_VERSION,
        fds: ["seccompFd"],
        pid: state.pid,
        ...(seccomp.listenerMetadata ? { metadata: seccomp.listenerMetadata } : {}),
        state: { ...state, status: "creating" },
      }),
    );
  } catch (e) {
    throw new OciError(`cannot send the seccomp listener to ${path}: ${(e as Error).message}`);
  } finally {
    close(mine);
  }
}

/**
 * Where the container's cgroup goes: its name (the last element of
 * cgroupsPath, or the id) and its parent for the driver. An absolute
 * cgroupsPath is taken from each hierarchy's root ("/x": the parent is the
 * root itself), a relative one from ctr's own cgroup (runc's choice: the
 * spec leaves it to the runtime); without one, `ctr/ID` below ctr's own.
 */
export function cgroupPlace(id: string, cfg: OciConfig): { name: string; parent?: string } {
  const p = cfg.linux?.cgroupsPath;
  if (!p) return { name: id };
  if (/^[^/]*:[^/]*:/.test(p)) {
    throw new OciError(
      `cgroupsPath ${JSON.stringify(p)} is a systemd path: ctr manages cgroupfs paths only`,
    );
  }
  const clean = p.replace(/\/+$/, "");
  const cut = clean.lastIndexOf("/");
  const name = clean.slice(cut + 1);
  if (!name) return { name: id };
  return { name, parent: cut < 0 ? "." : clean.slice(0, cut) || "/" };
}

/**
 * Runs the hooks of one kind with the state on stdin; the first failure
 * throws. A hook's argv is exactly its `args` (argv[0] included: dockerd's
 * hook is its own binary under another argv[0]), so it is started with a
 * plan of its own rather than through Deno.Command, which sets argv[0] to
 * the path.
 */
export async function runHooks(
  kind: string,
  hooks: { path: string; args?: string[]; env?: string[]; timeout?: number }[] | undefined,
  state: Record<string, unknown>,
  inside?: HookPlace,
): Promise<void> {
  for (const h of hooks ?? []) await runHook(kind, h, JSON.stringify(state), inside);
}

/**
 * Where a hook of the container's own runs: in the namespaces of its process
 * `pid`; with `root`, also in its root (startContainer: after pivot_root),
 * else in the mount namespace's own root (createContainer: before
 * pivot_root, where the runtime's paths still resolve).
 */
export interface HookPlace {
  readonly pid: number;
  readonly root: boolean;
}

async function runHook(
  kind: string,
  h: { path: string; args?: string[]; env?: string[]; timeout?: number },
  state: string,
  inside?: HookPlace,
): Promise<void> {
  const [inR, inW] = pipe();
  const [outR, outW] = pipe();
  const live = new Set([inR, inW, outR, outW]);
  // An fd number is closed once: closing it twice could close another's new fd.
  const shut = (fd: number) => {
    if (live.delete(fd)) close(fd);
  };
  const stdio: Step[] = [
    dupTo(int(inR), 0, "the state on stdin"),
    dupTo(int(outW), 1, "stdout to ctr"),
    dupTo(int(outW), 2, "stderr to ctr"),
  ];
  const argv = h.args?.length ? h.args : [h.path];
  let pidfd = -1;
  try {
    if (inside) {
      pidfd = (await launchJoined({
        join: differingNamespaces(inside.pid),
        rootOf: inside.root ? inside.pid : undefined,
        args: argv,
        env: h.env ?? [],
        beforeExec: stdio,
        path: h.path,
        what: `${kind} hook ${h.path}`,
      }).catch((e) => {
        throw new OciError((e as Error).message);
      })).pidfd;
    } else {
      const plan: Plan = {
        cloneFlags: 0,
        steps: [
          ...stdio,
          closeOtherFds(),
          unblockSignals(),
          execPath(h.path, argv, h.env ?? [], `exec the ${kind} hook ${h.path}`),
        ],
      };
      try {
        pidfd = (await spawn(plan)).pidfd;
      } catch (e) {
        throw new OciError(`${kind} hook ${h.path}: ${(e as Error).message}`);
      }
    }
    shut(inR);
    shut(outW);
    try {
      writeAll(inW, new TextEncoder().encode(state), "hook stdin");
    } catch { /* the hook does not read its stdin */ }
    shut(inW);
    const chunks: Uint8Array[] = [];
    const reading = (async () => {
      const buf = new Uint8Array(4096);
      for (;;) {
        const n = await readAsync(outR, buf, "hook output").catch(() => 0);
        if (n <= 0) return;
        chunks.push(buf.slice(0, n));
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((r) => {
      if (h.timeout) timer = setTimeout(() => r("timeout"), h.timeout * 1000);
    });
    const status = await Promise.race([waitPidfd(pidfd), timedOut]);
    if (timer !== undefined) clearTimeout(timer);
    if (status === "timeout") {
      signalPidfd(pidfd, SIGNALS.SIGKILL);
      await waitPidfd(pidfd);
      throw new OciError(`${kind} hook ${h.path} timed out after ${h.timeout}s`);
    }
    await settleWithin(reading, 1000);
    if (status.code !== 0) {
      const out = new TextDecoder().decode(concat(...chunks)).trim();
      throw new OciError(
        `${kind} hook ${h.path} failed with status ${status.code}${out ? `: ${out}` : ""}`,
      );
    }
  } finally {
    for (const fd of [...live]) shut(fd);
    if (pidfd >= 0) close(pidfd);
  }
}

/** What `create` takes. */
export interface CreateOptions {
  readonly bundle: string;
  readonly pidFile?: string;
  readonly consoleSocket?: string;
  /** Fds 3.. of this process that the container keeps (`--preserve-fds`). */
  readonly preserveFds?: number;
  /** Called with the pty master when the process has a terminal (the console socket). */
  readonly sendConsole?: (master: number) => void;
  /** Told what the config has that ctr ignores (unknown keys, settings the kernel dropped). */
  readonly warn?: (message: string) => void;
}

/**
 * `create`: sets the container up and leaves its process waiting on the
 * exec fifo. Returns once it waits (the pid is recorded); everything made is
 * undone if a step fails. Its directory and a first record naming its
 * cgroup come before anything else, so `delete --force` finds all of it
 * whatever point create is killed at.
 */
export async function ociCreate(
  root: OciRoot,
  id: string,
  o: CreateOptions,
): Promise<OciRecord> {
  checkId(id);
  const bundle = abs(Deno.cwd(), o.bundle);
  let text: string;
  try {
    text = Deno.readTextFileSync(`${bundle}/config.json`);
  } catch (e) {
    throw new OciError(`cannot read ${bundle}/config.json: ${(e as Error).message}`);
  }
  const { parseOciConfig } = await import("./config_json.ts");
  const warn = o.warn ?? (() => {});
  const config = parseOciConfig(text, `${bundle}/config.json`, warn);
  // What only create needs, loaded here: the other commands start faster without it.
  const { containerPlan } = await import("../runtime/container_plan.ts");
  const { launch } = await import("../runtime/launch.ts");
  const host = readPlanHost();
  const driver = openCgroupDriver(host.cgroups ? { layout: host.cgroups } : {});
  const { name: cgName, parent: cgParent } = cgroupPlace(id, config);
  const cgPlan = driver.plan(cgName, cgParent);
  Deno.mkdirSync(root.dir, { recursive: true, mode: 0o700 });
  const dir = root.containerDir(id);
  try {
    Deno.mkdirSync(dir, { mode: 0o711 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new OciError(`container with id exists: ${id}`);
    }
    throw e;
  }
  const lock = FileLock.try(`${dir}/.lock`, "exclusive")!;
  const intent: OciRecord = {
    id,
    pid: 0,
    startTime: 0,
    bundle,
    rootfs: abs(bundle, config.root.path),
    created: new Date().toISOString(),
    annotations: config.annotations ?? {},
    cgroupPaths: { ...cgPlan.paths },
    cgroups: [...cgPlan.dirs],
    creator: { pid: Deno.pid, startTime: processStartTime(Deno.pid) ?? 0 },
    config,
  };
  let cg: Cgroup | undefined;
  let gate = -1;
  let pidfd = -1;
  try {
    root.write(intent);
    trace("oci: recorded");
    const fifo = root.fifo(id);
    mknod(fifo, "fifo", 0o622);
    Deno.chmodSync(fifo, 0o622); // past the umask
    // The fifo's directory, inherited by the child at a known number (not CLOEXEC, so
    // it survives the clone): the child opens the fifo through it.
    gate = open(dir, O.PATH | O.DIRECTORY);
    const cfg = await ociToConfig(id, bundle, config, {
      text,
      stateDir: root.dir,
      gateFd: gate,
      preserveFds: o.preserveFds,
      closeFds: stdioCopies(),
      warn,
    });
    const plan = containerPlan(cfg, host);
    cg = driver.create(cgName, cgParent);
    trace("oci: cgroup");
    cg.apply(driver.version === "v2" ? v2Limits(cfg.cgroup.limits, warn) : cfg.cgroup.limits);
    const stateNow = (pid: number) => ({
      ociVersion: OCI_VERSION,
      id,
      pid,
      bundle,
      rootfs: cfg.oci!.root,
      ...(config.annotations ? { annotations: config.annotations } : {}),
    });
    const spawned = await launch(plan, {
      idMaps: cfg.namespaces.user.kind === "new" ? { uid: cfg.uidMap, gid: cfg.gidMap } : undefined,
      cgroup: cg,
      oomScoreAdj: config.process?.oomScoreAdj,
      ptyOwner: cfg.process.terminal ? cfg.process.uid : undefined,
      onPty: (master) => {
        // process.consoleSize: the size the pty starts with, before its master is handed on.
        const size = config.process?.consoleSize;
        if (size) setWindowSize(master, { rows: size.height, columns: size.width });
        o.sendConsole?.(master);
      },
      returnAt: PHASE_CREATED,
      onPhase: async (phase, pid, child) => {
        if (phase === PHASE_SECCOMP_LISTENER) {
          return sendSeccompListener(config, stateNow(pid), child);
        }
        if (phase !== PHASE_PREPIVOT) return;
        // The spec's order, all before pivot_root: prestart and createRuntime in the
        // runtime's namespaces, createContainer in the container's.
        const state = { ...stateNow(pid), status: "creating" };
        await runHooks("prestart", config.hooks?.prestart, state);
        await runHooks("createRuntime", config.hooks?.createRuntime, state);
        await runHooks("createContainer", config.hooks?.createContainer, state, {
          pid,
          root: false,
        });
      },
    }).catch((e) => {
      if (e instanceof PlanError) {
        throw new OciError(
          planFailure(e, cfg.process.args[0] ?? "", "Cannot start the container").message,
        );
      }
      throw e;
    });
    pidfd = spawned.pidfd;
    trace("oci: spawned");
    const record: OciRecord = {
      ...intent,
      pid: spawned.pid,
      startTime: processStartTime(spawned.pid) ?? 0,
      created: new Date().toISOString(),
      cgroupPaths: { ...cg.paths },
      cgroups: Object.values(cg.paths),
      cgroupParents: parentsToRecord(root, id, cg),
      creator: undefined,
    };
    root.write(record);
    trace("oci: created");
    if (o.pidFile) {
      const tmp = `${o.pidFile}.tmp`;
      Deno.writeTextFileSync(tmp, String(spawned.pid));
      Deno.renameSync(tmp, o.pidFile);
    }
    return record;
  } catch (e) {
    if (pidfd >= 0) {
      try {
        signalPidfd(pidfd, SIGNALS.SIGKILL);
        await waitPidfd(pidfd);
      } catch { /* gone */ }
    }
    // This process's handle first (it removes the levels it made), then all the record names.
    await cg?.killAll().catch(() => {});
    await cg?.destroy().catch(() => {});
    const left = await releaseCgroups(intent).then(() => undefined, (err) => err as Error);
    if (left) {
      // Kept, with its record, for `delete --force` to finish.
      console.error(`ctr: warning: cannot remove the cgroup of ${id}: ${left.message}`);
    } else {
      removeContainerDir(root, id);
    }
    throw e;
  } finally {
    if (gate >= 0) close(gate);
    if (pidfd >= 0) close(pidfd);
    lock.release();
  }
}

/**
 * The limits cgroup v2 can carry out: memory swappiness and disabling the
 * OOM killer exist on v1 only, and are ignored with a warning, as runc does.
 */
function v2Limits(l: Limits, warn: (message: string) => void): Limits {
  const { memorySwappiness, oomKillDisable, ...rest } = l;
  if (memorySwappiness !== undefined) {
    warn("linux.resources.memory.swappiness: ignored: cgroup v2 has no memory.swappiness");
  }
  if (oomKillDisable) {
    warn(
      "linux.resources.memory.disableOOMKiller: ignored: cgroup v2 cannot disable the OOM killer",
    );
  }
  return rest;
}

/**
 * The parent cgroups a record keeps for delete: those this create made, and
 * those another container of this root made above this one's, so that the
 * last container to go removes a parent they share.
 */
function parentsToRecord(root: OciRoot, id: string, cg: Cgroup): string[] {
  const mine = Object.values(cg.paths);
  const out = new Set(cg.parents);
  for (const other of root.list()) {
    if (other.id === id) continue;
    for (const p of other.cgroupParents ?? []) {
      if (mine.some((m) => m.startsWith(p + "/"))) out.add(p);
    }
  }
  return [...out].sort((a, b) => b.length - a.length);
}

function removeContainerDir(root: OciRoot, id: string): void {
  checkId(id); // never "." or "..": this deletes a tree
  // Nothing is ever mounted here (the container's mounts live in its own namespace).
  try {
    Deno.removeSync(root.containerDir(id), { recursive: true });
  } catch { /* gone */ }
}

/** `start`: lets a created container run its command. */
export async function ociStart(root: OciRoot, id: string): Promise<void> {
  const r = root.read(id);
  const status = root.status(r);
  if (status !== "created") {
    throw new OciError(`cannot start a container that is ${status}: ${id}`);
  }
  // In the container (its namespaces and root), before its command runs.
  await runHooks("startContainer", r.config.hooks?.startContainer, root.state(r), {
    pid: r.pid,
    root: true,
  });
  const fifo = root.fifo(id);
  // Opening for reading lets the container's open for writing return; its byte says it goes
  // on. Non-blocking, so that a container that died meanwhile cannot hang start.
  const fd = open(fifo, O.RDONLY | O.NONBLOCK);
  try {
    const buf = new Uint8Array(1);
    for (let i = 0;; i++) {
      const n = sysRaw("read", fd, addressOf(buf), 1);
      if (n === 1) break;
      if (!isAlive(r)) throw new OciError(`container ${id} ended before it could start`);
      if (i > 3000) throw new OciError(`container ${id} did not start within 30 s`);
      await new Promise((res) => setTimeout(res, 10));
    }
  } finally {
    close(fd);
  }
  Deno.removeSync(fifo);
  // The command was running when its byte came: the hook is told so even if it has
  // ended by now (the spec calls poststart "after the user-specified process is
  // executed"; a hook needs the pid to reach its namespaces).
  const running = { ...root.state(r), status: "running", pid: r.pid };
  await runHooks("poststart", r.config.hooks?.poststart, running).catch((e) => {
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
    const cg = cgroupOf(r);
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
    await cgroupOf(r)?.thaw().catch(() => {});
    if (r.pid > 0) {
      try {
        Deno.kill(r.pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await cgroupOf(r)?.killAll().catch(() => {});
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
  await runHooks("poststop", r.config.hooks?.poststop, { ...root.state(r), status: "stopped" })
    .catch((e) => console.error(`ctr: warning: ${(e as Error).message}`));
}

/** `pause` / `resume`: the freezer. */
export async function ociFreeze(root: OciRoot, id: string, freeze: boolean): Promise<void> {
  const r = root.read(id);
  const status = root.status(r);
  if (freeze && status !== "running") throw new OciError(`container not running: ${id}`);
  if (!freeze && status !== "paused") throw new OciError(`container not paused: ${id}`);
  const cg = cgroupOf(r);
  if (!cg) throw new OciError(`container ${id} has no cgroup`);
  if (freeze) await cg.freeze();
  else await cg.thaw();
}

/** The pids in the container's cgroup. */
export function ociPids(root: OciRoot, id: string): number[] {
  const r = root.read(id);
  return cgroupOf(r)?.pids() ?? (isAlive(r) ? [r.pid] : []);
}
