/**
 * ctr as an OCI runtime (what runc and crun are to podman, containerd and
 * docker): `create`. A bundle's config.json becomes the same ContainerConfig
 * a `ctr run` builds, and the same plan runs it; the container is left
 * waiting on an exec fifo (the plan's last steps before execve), owned by
 * the caller, who is its subreaper. `start` (lifecycle.ts) opens the fifo
 * and the command runs. The records are state.ts's; the other commands do
 * not load this module, nor the planner, the launcher or the schema.
 * @module
 */

import { MS, PROPAGATION_FLAGS, SIGNALS } from "../../ffi/constants.ts";
import { close, open, sys } from "../../ffi/sys.ts";
import { O } from "../../ffi/constants.ts";
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
import { type Cgroup, openCgroupDriver } from "../cgroups/mod.ts";
import type { DeviceRule, Limits } from "../cgroups/limits.ts";
import { FileLock } from "../os/lock.ts";
import { PlanError } from "../runtime/plan.ts";
import { planFailure } from "../runtime/errors.ts";
import { enabledLsms, readPlanHost, stdioCopies } from "../runtime/host.ts";
import { PHASE_CREATED, PHASE_SECCOMP_LISTENER } from "../runtime/process.ts";
import { LISTENER_SLOT } from "../runtime/seccomp/mod.ts";
import type { WaitingChild } from "../runtime/spawn.ts";
import { PHASE_PREPIVOT } from "../runtime/rootfs.ts";
import { signalPidfd, waitPidfd } from "../runtime/spawn.ts";
import { processStartTime } from "../os/proc.ts";
import { trace } from "../trace.ts";
import { mountFlags, type OciConfig, parseOciConfig, unsupported } from "./config_json.ts";
import { containerPlan } from "../runtime/container_plan.ts";
import { launch } from "../runtime/launch.ts";
import { setWindowSize } from "../runtime/tty.ts";
import { mknod } from "../os/mknod.ts";
import { releaseCgroups, runHooks } from "./lifecycle.ts";
import {
  checkId,
  OCI_VERSION,
  OciError,
  type OciRecord,
  type OciRoot,
  removeContainerDir,
} from "./state.ts";

export { OCI_VERSION, OciError, type OciRecord, OciRoot, type OciStatus } from "./state.ts";
export { ociDelete, ociFreeze, ociKill, ociPids, ociStart, runHooks } from "./lifecycle.ts";
export type { HookPlace } from "./hooks.ts";

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
export function ociToConfig(
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
): ContainerConfig {
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
  const warn = o.warn ?? (() => {});
  const config = parseOciConfig(text, `${bundle}/config.json`, warn);
  trace("oci: config parsed");
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
    const cfg = ociToConfig(id, bundle, config, {
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
