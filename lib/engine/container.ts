/**
 * One container from start to end: its directory (upper, work, merged), the
 * plan (namespaces, root filesystem, process), the parent's work at the sync
 * points (uid/gid maps, the pty), signals, the wait, and the cleanup that
 * leaves nothing behind.
 * @module
 */

import { close, open, pipe, unlink } from "../../ffi/sys.ts";
import { openWatcher } from "../../ffi/watch.ts";
import { listenUnix } from "../../ffi/unix_socket.ts";
import {
  type ContainerConfig,
  DETACHED_ENV,
  type IdMap,
  type UserModeNet,
  type UserMount,
} from "../config/container.ts";
import { containerPlan, PHASE_FORKED, PHASE_START, showPlan } from "../runtime/container_plan.ts";
import { launchDetached, type LaunchedDetached, type WatcherFdArgs } from "../runtime/detached.ts";
import { planFailure, RunError } from "../runtime/errors.ts";
import { readPlanHost } from "../runtime/host.ts";
import { launch } from "../runtime/launch.ts";
import { type Plan, PlanError } from "../runtime/plan.ts";
import { lookup } from "../runtime/paths.ts";
import { removeTree } from "../os/tree.ts";
import { linkLayers, needsLayerLinks } from "../runtime/rootfs.ts";
import { FORWARDED, forwardSignals, signalPidfd, waitPidfd } from "../runtime/spawn.ts";
import { relayPty } from "../runtime/tty.ts";
import { trace } from "../trace.ts";
import {
  type Cgroup,
  type CgroupDriver,
  type CgroupLayout,
  type CgroupPlan,
  openCgroupDriver,
} from "../cgroups/mod.ts";
import type { Limits } from "../cgroups/limits.ts";
import { type ContainerState, type EndpointRecord, StateDir } from "./state.ts";
import { randomName } from "../config/names.ts";
import { isAlive, processStartTime } from "../os/proc.ts";
import { networkFilePaths, writeNetworkFiles } from "../network/resolv.ts";
import type { Attachment } from "../network/bridge.ts";
import { settleWithin } from "../os/async.ts";
import { ruleComment, vethName } from "../network/names.ts";
import { releaseNetworks, releaseResources } from "./lifecycle.ts";
import { O, SIGNALS } from "../../ffi/constants.ts";
import { isRootless, undelegatedReason } from "./rootless.ts";
import type { UserModeNetwork } from "../network/usermode.ts";
import { type IdmappedLayers, idmappedLayers, idmappedLowerDir } from "../runtime/idmount.ts";
import { containerEvent, networkEvent, volumeMountEvents } from "./events.ts";

/** Catches `signals` and does nothing with them; returns the function that stops it. */
function ignoreSignals(signals: readonly Deno.Signal[]): () => void {
  const none = () => {};
  const caught = signals.filter((s) => {
    try {
      Deno.addSignalListener(s, none);
      return true;
    } catch {
      return false;
    }
  });
  return () => caught.forEach((s) => Deno.removeSignalListener(s, none));
}

/** The plan as `--dry-run` prints it. */
export function dryRun(cfg: ContainerConfig): string {
  return showPlan(containerPlan(cfg, readPlanHost()));
}

/** Where the container's pid goes, for callers that watch it. */
export interface RunHooks {
  /** Called once the container has exec'd. */
  started?(pid: number): void;
}

/** The store a container belongs to (`--root`): its directory is `<root>/containers/<id>`. */
function storeRoot(cfg: ContainerConfig): string {
  return cfg.dir.slice(0, cfg.dir.lastIndexOf("/containers/"));
}

function stateOf(
  cfg: ContainerConfig,
  pid: number,
  startTime: number,
  status: ContainerState["status"],
  made: Made,
): ContainerState {
  return {
    id: cfg.id,
    name: cfg.name,
    pid,
    startTime,
    status,
    created: new Date().toISOString(),
    image: cfg.image,
    command: cfg.process.args,
    dir: cfg.dir,
    ...made,
    root: storeRoot(cfg),
    config: cfg,
  };
}

/**
 * The names of what a container makes outside its directory (its cgroup in
 * every hierarchy, its network's lease, veth and packet filter rules),
 * recorded in its state before any of it is made: whatever point ctr dies
 * at, `rm -f` and prune find all of it there.
 */
type Made = Pick<
  ContainerState,
  "cgroups" | "cgroupPaths" | "network" | "veth" | "ruleComment" | "endpoints"
>;

/** What a container will make (see Made), from its cgroup plan and its networks. */
function intent(cfg: ContainerConfig, cgroup: CgroupIntent | undefined): Made {
  const net = cfg.network.name;
  const more = net ? cfg.network.more ?? [] : [];
  return {
    cgroups: cgroup ? [...cgroup.plan.dirs] : [],
    cgroupPaths: cgroup ? { ...cgroup.plan.paths } : {},
    network: net,
    veth: net ? vethName(cfg.id) : undefined,
    ruleComment: net ? ruleComment(cfg.id) : undefined,
    endpoints: more.length > 0
      ? more.map((e, i) => endpointRecord(cfg.id, e.name, i + 1, e.aliases))
      : undefined,
  };
}

/** An endpoint's record with the address it got. */
export function withAddress(e: EndpointRecord, a: Attachment): EndpointRecord {
  return { ...e, ...addressOf(a) };
}

/** What an attachment gives a container's record: its address and docker's ids for it. */
export function addressOf(a: Attachment) {
  return {
    ip: a.ip,
    prefixLen: a.prefixLen,
    gateway: a.gateway,
    mac: a.mac,
    networkId: a.network.id,
    endpointId: a.endpointId,
  };
}

/** The record of a container's endpoint k on a network, before any of its objects exists. */
export function endpointRecord(
  id: string,
  network: string,
  index: number,
  aliases: readonly string[] = [],
): EndpointRecord {
  return {
    network,
    index,
    veth: vethName(id, index),
    ruleComment: ruleComment(id, index),
    ...(aliases.length > 0 && { aliases }),
  };
}

/** The recorded names once the cgroup exists: the directories it really has. */
function madeNow(cfg: ContainerConfig, cg: Cgroup | undefined): Made {
  return {
    ...intent(cfg, undefined),
    cgroups: cg ? Object.values(cg.paths) : [],
    cgroupPaths: cg ? { ...cg.paths } : {},
  };
}

/**
 * Whether a container on the host's network gets ctr's files: docker's
 * container does (copies of the host's hosts and resolv.conf, its hostname),
 * an OCI bundle's does not (its config says what it mounts).
 */
export function hostNetworkFiles(cfg: ContainerConfig): boolean {
  return cfg.namespaces.net.kind === "host" && !cfg.oci;
}

/**
 * With its own network namespace a container gets ctr's /etc/hosts,
 * /etc/resolv.conf and /etc/hostname (bind mounts of files in its directory,
 * which joining a network rewrites in place); on the host's network, copies
 * of the host's (hostNetworkFiles).
 */
export function withNetworkFiles(cfg: ContainerConfig, mappedLayers = false): ContainerConfig {
  if (cfg.namespaces.net.kind !== "new" && !hostNetworkFiles(cfg)) return cfg;
  const files = networkFilePaths(cfg.dir);
  const binds: UserMount[] = [
    { type: "bind", source: files.hosts, destination: "/etc/hosts", readonly: false },
    { type: "bind", source: files.resolvConf, destination: "/etc/resolv.conf", readonly: false },
    { type: "bind", source: files.hostname, destination: "/etc/hostname", readonly: false },
  ].filter((b) =>
    !cfg.mounts.some((m) => m.destination === b.destination) &&
    // A remapped root cannot create a mount point in a directory the host's root owns
    // (rootless or idmapped, the layers' owners are mapped).
    (cfg.namespaces.user.kind !== "new" || mappedLayers || rootlessLayers(cfg) ||
      lookup(cfg.layers, b.destination) !== undefined)
  ) as UserMount[];
  return { ...cfg, mounts: [...binds, ...cfg.mounts] };
}

let idmapWarned = false;

/**
 * Idmapped mounts of the layers for a root ctr's container with a user
 * namespace of its own (see runtime/idmount.ts): its root then owns the
 * image's files as the host's root does. Where the kernel or the store's
 * filesystem allows none, the container runs on the layers as they are (their
 * files read as nobody), and ctr says so.
 */
function idmapLayers(cfg: ContainerConfig): IdmappedLayers | undefined {
  if (Deno.uid() !== 0 || cfg.namespaces.user.kind !== "new" || cfg.oci || !cfg.layers.length) {
    return undefined;
  }
  try {
    const m = idmappedLayers(cfg.layers, { uid: cfg.uidMap, gid: cfg.gidMap });
    cfg.layers.forEach((_, i) => Deno.mkdirSync(idmappedLowerDir(cfg.dir, i), { recursive: true }));
    return m;
  } catch (e) {
    if (!idmapWarned) {
      console.error(
        `ctr: warning: no idmapped mounts of the layers (${(e as Error).message}): files of ` +
          "host ids the user namespace does not map read as nobody and cannot be changed",
      );
      idmapWarned = true;
    }
    return undefined;
  }
}

/** Whether the container's root is the store's owner: a rootless store, whose layers it owns. */
function rootlessLayers(cfg: ContainerConfig): boolean {
  return isRootless() && cfg.uidMap.some((m) => m.container === 0 && m.host === Deno.uid());
}

/** Which of a container's networks to join, and how (see joinNetwork). */
export interface JoinOptions {
  /** Its endpoint index: 0 is its first network (resolv.conf, hostname, ports). */
  readonly endpoint: number;
  readonly network: string;
  readonly aliases: readonly string[];
  readonly ip?: string;
  /** Serve published ports from this process (a foreground run). */
  readonly proxy: boolean;
  /** Route through it by default (default: on endpoint 0; never on an internal network). */
  readonly defaultRoute?: boolean;
}

/**
 * Joins the container (its init is `pid`) to one of its networks: veth,
 * address, routes, NAT, ports, hosts files. The start joins its networks
 * so, and `network connect` a running container's.
 */
export async function joinNetwork(
  cfg: ContainerConfig,
  pid: number,
  j: JoinOptions,
): Promise<Attachment> {
  const root = cfg.dir.slice(0, cfg.dir.lastIndexOf("/containers/"));
  const stateDir = cfg.stateDir ?? "/run/ctr";
  // Loaded only for containers that join a network: bridges, NAT and the proxy weigh.
  const { attachContainer, Nat, NetworkStore } = await import("../network/mod.ts");
  const store = new NetworkStore({ root, stateDir });
  const nat = new Nat({ stateDir });
  const first = j.endpoint === 0;
  let a: Attachment;
  try {
    a = await attachContainer({
      store,
      nat,
      network: j.network,
      containerId: cfg.id,
      endpoint: j.endpoint,
      defaultRoute: j.defaultRoute,
      pid,
      ip: j.ip,
      mac: first ? cfg.network.mac : undefined,
      name: cfg.name,
      hostname: cfg.hostname,
      domainname: cfg.domainname,
      aliases: j.aliases,
      extraHosts: cfg.network.extraHosts,
      ...resolvOptions(cfg),
      ports: first ? cfg.network.ports : [],
      masquerade: true,
      proxy: j.proxy,
      filesDir: cfg.dir,
    });
  } catch (e) {
    throw new RunError(
      `Cannot connect the container to network ${j.network}: ${(e as Error).message}`,
      125,
    );
  }
  for (const w of a.warnings) console.error(`ctr: warning: ${w}`);
  networkEvent(stateDir, a.network, "connect", cfg.id);
  return a;
}

/**
 * Joins the container to all its networks at its start: the first, then
 * each of `network.more` as endpoints 1, 2, ... (as intent() recorded them).
 * On a failure, those joined are left for the caller's release.
 */
export async function attach(
  cfg: ContainerConfig,
  pid: number,
  proxy: boolean,
  joined: Attachment[],
): Promise<void> {
  if (!cfg.network.name) return;
  joined.push(
    await joinNetwork(cfg, pid, {
      endpoint: 0,
      network: cfg.network.name,
      aliases: cfg.network.aliases,
      ip: cfg.network.ip,
      proxy,
    }),
  );
  for (const [i, e] of (cfg.network.more ?? []).entries()) {
    joined.push(
      await joinNetwork(cfg, pid, {
        endpoint: i + 1,
        network: e.name,
        aliases: e.aliases,
        ip: e.ip,
        proxy,
        // While every network joined so far is internal, the first that is not leads out.
        defaultRoute: joined.every((a) => a.network.internal),
      }),
    );
  }
}

/** What a user-mode stack puts in the container's hosts and resolv.conf files. */
async function userModeFiles(kind: UserModeNet): Promise<{ dns: string[]; ip?: string }> {
  const { PASTA_DNS, SLIRP } = await import("../network/usermode.ts");
  return kind === "slirp4netns" ? { dns: [SLIRP.dns], ip: SLIRP.ip } : { dns: [PASTA_DNS] };
}

/** Starts the container's user-mode network stack (its init is `pid`, waiting). */
async function startUserMode(
  cfg: ContainerConfig,
  pid: number,
  detached: boolean,
): Promise<UserModeNetwork> {
  const { startUserModeNet } = await import("../network/usermode.ts");
  try {
    return await startUserModeNet(cfg.network.userMode!, pid, {
      ports: cfg.network.ports,
      userns: cfg.namespaces.user.kind === "new",
      dir: cfg.dir,
      socket: `${cfg.stateDir ?? "/run/ctr"}/${cfg.id.slice(0, 12)}.slirp`,
      dieWithUs: !detached,
    });
  } catch (e) {
    throw new RunError(
      `Cannot start the container's network (${cfg.network.userMode}): ${(e as Error).message}`,
      125,
    );
  }
}

/** The container's --dns, --dns-search and --dns-option, as the resolv.conf writer takes them. */
function resolvOptions(cfg: ContainerConfig) {
  const d = cfg.network.dns;
  return d ? { dns: d.servers, dnsSearch: d.search, dnsOptions: d.options } : {};
}

/** Whether the limits ask for anything beyond accounting and device rules. */
function limitsAsked(l: Limits): boolean {
  return Object.keys(l).some((k) => k !== "devices" && k !== "oomScoreAdj");
}

/** The cgroup a container will get: its driver and what create() will make. */
export interface CgroupIntent {
  readonly driver: CgroupDriver;
  readonly plan: CgroupPlan;
}

/**
 * Plans the container's cgroup (nothing is made yet); undefined when the
 * host has no cgroup filesystem and no limit is asked.
 */
export function planCgroup(
  cfg: ContainerConfig,
  layout: CgroupLayout | undefined,
): CgroupIntent | undefined {
  if (isRootless()) {
    // Without a delegated cgroup v2 subtree a user can make no cgroup: limits are refused,
    // everything else runs without one.
    const why = undelegatedReason(layout, Deno.uid()!);
    if (why) {
      if (limitsAsked(cfg.cgroup.limits)) {
        throw new RunError(`Cannot apply resource limits: ${why}`, 125);
      }
      return undefined;
    }
  }
  let driver;
  try {
    driver = openCgroupDriver(layout ? { layout } : {});
  } catch (e) {
    if (limitsAsked(cfg.cgroup.limits)) {
      throw new RunError(`Cannot apply resource limits: ${(e as Error).message}`, 125);
    }
    return undefined;
  }
  try {
    return { driver, plan: driver.plan(cfg.id, cfg.cgroup.parent) };
  } catch (e) {
    throw new RunError(`Cannot create the container's cgroup: ${(e as Error).message}`, 125);
  }
}

/** Makes the planned cgroup and applies the limits. */
export async function makeCgroup(cfg: ContainerConfig, intended: CgroupIntent): Promise<Cgroup> {
  const cg = intended.driver.create(cfg.id, cfg.cgroup.parent);
  trace("cgroup: made");
  // Rootless, the device rules stay out, as crun leaves them: cgroup v2 enforces them with a
  // BPF program, which an unprivileged user may not load (EPERM), and the user namespace
  // already keeps the container from every device node its user cannot open.
  const limits = isRootless() ? { ...cfg.cgroup.limits, devices: undefined } : cfg.cgroup.limits;
  try {
    cg.apply(limits);
  } catch (e) {
    await cg.destroy().catch(() => {});
    throw new RunError(`Cannot apply resource limits: ${(e as Error).message}`, 125);
  }
  return cg;
}

/** Prepares the container's directory; upper/work belong to the container's root user. */
export function prepareDir(cfg: ContainerConfig): void {
  const containers = cfg.dir.slice(0, cfg.dir.lastIndexOf("/"));
  Deno.mkdirSync(containers, { recursive: true, mode: 0o711 });
  Deno.mkdirSync(cfg.dir, { mode: 0o711 });
  for (const d of ["upper", "work", "merged"]) Deno.mkdirSync(`${cfg.dir}/${d}`, { mode: 0o755 });
  // Image garbage collection keeps the layers that a container records here.
  Deno.writeTextFileSync(`${cfg.dir}/layers.json`, JSON.stringify(cfg.layers) + "\n");
  if (cfg.namespaces.user.kind === "new") {
    const root = (m: readonly IdMap[]) => m.find((x) => x.container === 0 && x.size > 0)?.host;
    // The remapped root reaches its upper layer as an unprivileged host user (rootless: the
    // store's owner, who reaches it anyway).
    for (
      let d = containers;
      d !== "" && d !== "/" && root(cfg.uidMap) !== Deno.uid();
      d = d.slice(0, d.lastIndexOf("/"))
    ) {
      if ((Deno.statSync(d).mode! & 0o001) === 0) {
        throw new RunError(
          `${d} is not searchable by the container's remapped root: chmod o+x ${d}`,
          125,
        );
      }
    }
    const uid = root(cfg.uidMap), gid = root(cfg.gidMap);
    if (uid === undefined || gid === undefined) {
      throw new RunError("The user namespace maps no root user", 125);
    }
    for (const d of ["upper", "work"]) Deno.chownSync(`${cfg.dir}/${d}`, uid, gid);
  }
}

/** How startContainer() sets a container up. */
export interface StartOptions {
  /** ctr's state directory (default /run/ctr). */
  readonly stateDir?: string;
  /** The container exists already (`ctr start`, a restart): keep its directory and name. */
  readonly existing?: boolean;
  /**
   * Detached: the container outlives this process (no death signal, no port
   * proxies here). The plan's first child forks it and becomes its watcher
   * (lib/runtime/detached.ts, ffi/watch/watch.c) with the command line
   * `argv` makes of where it finds the container and of its reserved record.
   */
  readonly detached?: {
    argv(fds: WatcherFdArgs, record: ContainerState): string[];
    /** Where clients attach (`ctr attach`): a socket listened on here and handed to the watcher. */
    readonly attachSocket?: string;
    /**
     * Called once that socket listens, before the watcher runs: a client that
     * connects now waits in its backlog, and the watcher takes it first thing.
     */
    readonly listening?: () => void;
  };
  /** More to record in its state (restart policy, log path, --rm). */
  readonly record?: Partial<ContainerState>;
}

/** A container whose command runs: what its waiter needs. */
export interface Started {
  readonly cfg: ContainerConfig;
  readonly state: StateDir;
  readonly pid: number;
  /** A pidfd of the container's PID 1 (this process is its parent). */
  readonly pidfd: number;
  readonly cg?: Cgroup;
  /** Its networks, the first one first. */
  readonly attachments: readonly Attachment[];
  /** Its user-mode network stack (slirp4netns, pasta). */
  readonly userNet?: UserModeNetwork;
  /** The pty master (-t), else -1. */
  readonly master: number;
  /** Detached without a pty: the read ends of its stdout and stderr pipes. */
  readonly stdout: number;
  readonly stderr: number;
  /** Detached with -i and without a pty: the write end of its stdin pipe, else -1. */
  readonly stdin: number;
  /** What is recorded in the state directory now. */
  readonly record: ContainerState;
}

/**
 * Reserves the container's name and id in the state directory (status
 * created), with the names of everything it is about to make (`made`).
 * Returns the configuration (its name chosen) and the record written.
 */
async function reserve(
  cfg: ContainerConfig,
  state: StateDir,
  o: StartOptions,
  made: Made,
  creating?: (cfg: ContainerConfig) => void,
): Promise<{ cfg: ContainerConfig; record: ContainerState }> {
  let out = cfg;
  // A container only created has no process of its own: its making happens under the lock
  // (`creating`), so no start can find it half made, and its one record names no watcher.
  const me = creating ? undefined : { pid: Deno.pid, startTime: processStartTime(Deno.pid) ?? 0 };
  if (o.existing) await waitForPreviousWatcher(state, cfg.id);
  const record = await state.locked(() => {
    if (o.existing) {
      const s = state.get(cfg.id);
      if (!s) throw new RunError(`No such container: ${cfg.id}`, 125);
      if ((s.status === "running" || s.status === "paused") && isAlive(s)) {
        throw new RunError(`Container ${cfg.name} is already running`, 125);
      }
      if (
        (s.status === "created" || s.status === "restarting") && s.watcher &&
        s.watcher.pid !== Deno.pid && isAlive(s.watcher)
      ) {
        throw new RunError(`Container ${cfg.name} is being started already`, 125);
      }
      // The last run's exit record is not this run's.
      try {
        unlink(state.exitFile(cfg.id));
      } catch { /* left for the watcher to replace */ }
      const next: ContainerState = {
        ...s,
        ...o.record,
        ...made,
        status: "created",
        startTime: 0,
        error: undefined,
        watcher: me,
      };
      state.write(next);
      return next;
    }
    // Names are unique among the records: only a new container reads them all.
    const all = state.list();
    if (out.nameGenerated) {
      const taken = new Set(all.map((s) => s.name));
      for (let i = 0; taken.has(out.name); i++) {
        out = { ...out, name: i < 20 ? randomName() : `${randomName()}_${out.id.slice(0, 6)}` };
      }
    }
    for (const s of all) {
      if (s.name !== out.name) continue;
      throw new RunError(
        `Conflict: the container name "${out.name}" is already in use by container ${
          s.id.slice(0, 12)
        }. You have to remove (or rename) that container to be able to reuse that name.`,
        125,
      );
    }
    const next: ContainerState = {
      ...stateOf(out, 0, 0, "created", made),
      ...o.record,
      watcher: me,
    };
    state.create(next);
    if (creating) {
      try {
        creating(out);
      } catch (e) {
        state.remove(out.id);
        throw e;
      }
    }
    return next;
  });
  // A start of an existing container is no creation (its `start` event comes with the run).
  if (!o.existing) containerEvent(state.dir, { ...out, labels: o.record?.labels }, "create");
  return { cfg: out, record };
}

/**
 * Before a container starts again, the process that waited for its last run
 * must have released it: its cgroup, veth and lease have the same names as
 * the new run's, and a late release would take the new run's.
 */
async function waitForPreviousWatcher(state: StateDir, id: string): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    const s = state.get(id);
    const w = s?.watcher;
    if (!s || !w || w.pid === Deno.pid || !isAlive(w) || s.status === "exited") return;
    if (Date.now() > end) {
      throw new RunError(`Container ${s.name} is still being released by process ${w.pid}`, 125);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Launches a detached container whose parent becomes its watcher
 * (lib/runtime/detached.ts): the watcher program from a memfd, the
 * container's output from `pipes` (or its pty, placed at an fd number held
 * open here for it), its exit record in the state directory, `then` after.
 */
async function launchWatched(
  plan: Plan,
  cfg: ContainerConfig,
  record: ContainerState,
  d: NonNullable<StartOptions["detached"]>,
  pipes: { stdout: number; stderr: number; stdin: number },
  opts: Parameters<typeof launchDetached>[2],
): Promise<LaunchedDetached> {
  const memfd = openWatcher();
  let ptyAt: number | undefined;
  let sock = -1;
  const env = Object.entries(Deno.env.toObject())
    .filter(([k]) => k !== DETACHED_ENV && k !== ATTACH_ENV)
    .map(([k, v]) => `${k}=${v}`);
  try {
    if (cfg.process.terminal) ptyAt = open("/dev/null", O.RDONLY | O.CLOEXEC);
    if (d.attachSocket) {
      sock = listenAttach(d.attachSocket);
      d.listening?.();
    }
    return await launchDetached(plan, {
      memfd,
      ...pipes,
      attach: sock,
      ptyAt,
      argv: (fds) => d.argv(fds, record),
      env,
    }, opts);
  } finally {
    close(memfd);
    if (ptyAt !== undefined) close(ptyAt);
    if (sock >= 0) close(sock);
  }
}

/**
 * Set (to 1) in the environment of the process that starts a container
 * which a client attaches to right away (`start -a`, a run with a pty in
 * the foreground): its watcher reads no output before that client is there.
 */
export const ATTACH_ENV = "_CTR_ATTACH";

/** A listening socket for attached clients at `path` (one left by a previous run is replaced). */
function listenAttach(path: string): number {
  unlink(path);
  return listenUnix(path, 8);
}

/**
 * Sets a container up and starts its command: state, directory, plan,
 * cgroup, spawn, network. Everything it will make is named in its state
 * record first (reserve), so a ctr killed at any point leaves nothing that
 * `rm -f` cannot find. On failure everything made so far is undone (a new
 * container leaves nothing; an existing one keeps its directory, marked
 * exited with the error); what cannot be undone stays recorded.
 */
export async function startContainer(cfg: ContainerConfig, o: StartOptions): Promise<Started> {
  cfg = { ...cfg, stateDir: o.stateDir ?? cfg.stateDir };
  const state = new StateDir(o.stateDir ?? "/run/ctr");
  const host = readPlanHost();
  const cgroup = planCgroup(cfg, host.cgroups);
  const reserved = await reserve(cfg, state, o, intent(cfg, cgroup));
  cfg = reserved.cfg;
  trace("state: reserved");
  let cg: Cgroup | undefined;
  const attachments: Attachment[] = [];
  let userNet: UserModeNetwork | undefined;
  let idmapped: IdmappedLayers | undefined;
  let master = -1;
  let pipes: number[] = [];
  let pidfd = -1;
  let watcherPidfd = -1;
  try {
    // What volumes' options mount, now that the record names the volumes (released with it).
    const volumes = reserved.record.volumes;
    if (volumes?.length) {
      (await import("./volume.ts")).mountVolumes(storeRoot(cfg), volumes);
      trace("volumes: mounted");
    }
    if (!o.existing) prepareDir(cfg);
    if (needsLayerLinks(cfg, cfg.namespaces.user.kind === "new")) linkLayers(cfg);
    if (cfg.namespaces.net.kind === "new") {
      writeNetworkFiles(cfg.dir, {
        hostname: cfg.hostname ?? cfg.id.slice(0, 12),
        domainname: cfg.domainname,
        name: cfg.name,
        // host-gateway is known once the container is on its network, which writes the file again.
        extra: cfg.network.extraHosts?.filter((h) => h.ip !== "host-gateway"),
        ...(cfg.network.userMode && (await userModeFiles(cfg.network.userMode))),
        ...resolvOptions(cfg),
      });
    } else if (hostNetworkFiles(cfg)) {
      writeNetworkFiles(cfg.dir, {
        hostNetwork: true,
        hostname: cfg.hostname ?? Deno.hostname(),
        // On the host's network the host is 127.0.0.1.
        extra: cfg.network.extraHosts?.map((h) =>
          h.ip === "host-gateway" ? { ...h, ip: "127.0.0.1" } : h
        ),
        ...resolvOptions(cfg),
      });
    }
    trace("directory: made");
    let runCfg = cfg;
    if (o.detached) {
      runCfg = { ...cfg, process: { ...cfg.process, dieWithParent: false } };
      if (!cfg.process.terminal) {
        const [outR, outW] = pipe();
        const [errR, errW] = pipe();
        // -i: a pipe the watcher writes attached input into (the container reads its end).
        const [inR, inW] = cfg.process.stdin ? pipe() : [-1, -1];
        pipes = [outR, errR, inW, outW, errW, ...(inR >= 0 ? [inR] : [])];
        runCfg = {
          ...runCfg,
          process: {
            ...runCfg.process,
            stdio: { stdout: outW, stderr: errW, ...(inR >= 0 && { stdin: inR }) },
          },
        };
      }
    }
    trace("plan: start");
    let plan: Plan;
    idmapped = idmapLayers(cfg);
    if (idmapped) trace("layers: idmapped");
    try {
      plan = containerPlan(withNetworkFiles(runCfg, idmapped !== undefined), host, {
        startPhase: o.detached ? PHASE_FORKED : PHASE_START,
        idmappedLowers: idmapped?.fds,
      });
    } catch (e) {
      throw e instanceof RunError ? e : new RunError((e as Error).message, 125);
    }
    trace("plan: built");
    if (cgroup) cg = await makeCgroup(cfg, cgroup);
    trace("container directory and cgroup ready");
    /**
     * The record of the container once its command runs, written once: `watcher` is the pid
     * of a detached container's watcher (in the foreground this process waits for it).
     */
    const running = (cur: ContainerState, pid: number, watcher = Deno.pid): ContainerState => {
      const a = attachments[0] as Attachment | undefined;
      const u = userNet as UserModeNetwork | undefined;
      return {
        ...cur,
        ...stateOf(cfg, pid, processStartTime(pid) ?? 0, "running", madeNow(cfg, cg)),
        ...o.record,
        created: cur.created,
        startedAt: new Date().toISOString(),
        watcher: { pid: watcher, startTime: processStartTime(watcher) ?? 0 },
        // A check starts over with each start (its log stays).
        ...(cfg.healthcheck &&
          {
            health: { Status: "starting" as const, FailingStreak: 0, Log: cur.health?.Log ?? [] },
          }),
        ...(a && { ...addressOf(a), ports: a.ports }),
        // Its further networks, with the addresses they gave it.
        ...(attachments.length > 1 && {
          endpoints: attachments.slice(1).map((x) =>
            withAddress(
              endpointRecord(
                cfg.id,
                x.network.name,
                x.endpoint,
                cfg.network.more?.[x.endpoint - 1]?.aliases,
              ),
              x,
            )
          ),
        }),
        ...(u && {
          userNet: { kind: u.kind, ...u.process },
          ip: u.ip,
          prefixLen: u.prefixLen,
          gateway: u.gateway,
          ports: u.ports,
        }),
      };
    };
    let spawned: { pid: number; pidfd: number; master: number; watcher?: number };
    let record: ContainerState | undefined;
    const launchOptions = {
      idMaps: cfg.namespaces.user.kind === "new" ? { uid: cfg.uidMap, gid: cfg.gidMap } : undefined,
      cgroup: cg,
      oomScoreAdj: cfg.cgroup.limits.oomScoreAdj,
      ptyOwner: cfg.process.terminal ? cfg.process.uid : undefined,
      onPhase: async (phase: number, pid: number) => {
        // Forked: the watcher and the container hold their own copies of the pipes. The watcher
        // sees its output end as soon as the container's copies close, not after this process
        // has seen the launch through.
        if (phase === 0) { for (const fd of pipes.splice(0)) if (fd >= 0) close(fd); }
        if (phase === PHASE_START && cfg.network.name) {
          await attach(cfg, pid, !o.detached, attachments);
        }
        if (phase === PHASE_START && cfg.network.userMode) {
          userNet = await startUserMode(cfg, pid, o.detached !== undefined);
        }
      },
    };
    try {
      if (o.detached) {
        const stdio = { stdout: pipes[0] ?? -1, stderr: pipes[1] ?? -1, stdin: pipes[2] ?? -1 };
        const d = await launchWatched(plan, cfg, reserved.record, o.detached, stdio, {
          ...launchOptions,
          // The whole running record, written once before the watcher's go (the command has
          // exec'd): `rm -f` then finds both processes however early ctr dies, and nothing is
          // written after the go, when the watcher may be recording the command's end already.
          onWatcher: async (pid, watcherPid) =>
            void (record = await state.update(cfg.id, (cur) => running(cur, pid, watcherPid))),
        });
        spawned = { pid: d.pid, pidfd: d.pidfd, master: -1, watcher: d.watcherPid };
        watcherPidfd = d.watcherPidfd;
      } else {
        spawned = await launch(plan, launchOptions);
      }
      master = spawned.master;
      pidfd = spawned.pidfd;
    } catch (e) {
      if (e instanceof PlanError) {
        throw planFailure(e, cfg.process.args[0], "Cannot start the container");
      }
      throw e instanceof RunError ? e : new RunError((e as Error).message, 125);
    } finally {
      // The child has its own copies (or is gone).
      idmapped?.close();
    }
    trace("exec'd");
    if (watcherPidfd >= 0) {
      // The watcher is this process's child until it exits: nothing here waits for it.
      close(watcherPidfd);
      watcherPidfd = -1;
    }
    // The container holds the write ends now, the watcher the read ends (its own copies).
    for (const fd of pipes.splice(0)) if (fd >= 0) close(fd);
    const u = userNet as UserModeNetwork | undefined;
    // In the foreground the record says "running" once the command has exec'd.
    if (!o.detached) record = await state.update(cfg.id, (cur) => running(cur, spawned.pid));
    if (!record) throw new RunError(`Container ${cfg.name} was removed while it started`, 125);
    trace("state: running");
    volumeMountEvents(state.dir, record, "mount");
    containerEvent(state.dir, record, "start");
    return {
      cfg,
      state,
      pid: spawned.pid,
      pidfd: spawned.pidfd,
      cg,
      attachments,
      userNet: u,
      master,
      stdout: pipes[0] ?? -1,
      stderr: pipes[1] ?? -1,
      stdin: pipes[2] ?? -1,
      record,
    };
  } catch (e) {
    for (const fd of pipes) if (fd >= 0) close(fd);
    idmapped?.close();
    if (master >= 0) close(master);
    if (pidfd >= 0) {
      try {
        signalPidfd(pidfd, SIGNALS.SIGKILL);
        // A detached container is its watcher's child: the watcher reaps it.
        if (watcherPidfd < 0) await waitPidfd(pidfd);
      } catch { /* gone */ }
      close(pidfd);
    }
    if (watcherPidfd >= 0) close(watcherPidfd);
    // This process's own handles first (proxies, the levels create() made), then whatever
    // the record names: a cgroup create() left half-made has no handle here.
    await cg?.killAll().catch(() => {});
    for (const a of [...attachments].reverse()) await a.teardown().catch(() => {});
    await (userNet as UserModeNetwork | undefined)?.teardown().catch(() => {});
    await cg?.destroy().catch(() => {});
    let left: Error | undefined;
    const rec = state.get(cfg.id) ?? stateOf(cfg, 0, 0, "created", intent(cfg, cgroup));
    await releaseResources(rec, state.dir).catch((err) => left = err as Error);
    if (o.existing || left) {
      await state.update(cfg.id, (s) => ({
        ...s,
        status: "exited",
        exitCode: e instanceof RunError ? e.exitCode : 125,
        error: left ? `${(e as Error).message}; ${left.message}` : (e as Error).message,
        finishedAt: new Date().toISOString(),
      }));
    } else {
      // A container that never started is not kept: nothing is left behind.
      removeTree(cfg.dir);
      await state.locked(() => state.remove(cfg.id));
    }
    throw e;
  }
}

/**
 * Makes a container without starting it (`ctr create`): its name and id
 * reserved, its directory ready, its state "created" with its whole
 * configuration, for `ctr start` to run. Returns what is recorded.
 */
export async function createContainer(
  cfg: ContainerConfig,
  o: { stateDir?: string; record?: Partial<ContainerState> },
): Promise<ContainerState> {
  cfg = { ...cfg, stateDir: o.stateDir ?? cfg.stateDir };
  const state = new StateDir(o.stateDir ?? "/run/ctr");
  // Nothing but its directory exists until `ctr start` (which records its own intent then).
  const nothing = { cgroups: [], cgroupPaths: {} };
  // Its directory is made under the state lock, right after its record: one record write.
  const { record } = await reserve(cfg, state, { record: o.record }, nothing, (named) => {
    try {
      prepareDir(named);
      if (needsLayerLinks(named, named.namespaces.user.kind === "new")) linkLayers(named);
    } catch (e) {
      removeTree(named.dir);
      throw e instanceof RunError ? e : new RunError((e as Error).message, 125);
    }
  });
  return record;
}

/**
 * Runs a container in the foreground and returns its exit code (128+N when
 * killed by signal N). With `remove`, its directory is deleted afterwards.
 */
export async function runContainer(
  cfg: ContainerConfig,
  opts: {
    remove: boolean;
    hooks?: RunHooks;
    stateDir?: string;
    record?: Partial<ContainerState>;
    /** Pass the signals ctr receives on (`--sig-proxy`, default true). */
    sigProxy?: boolean;
  },
): Promise<number> {
  const run = await startContainer(cfg, {
    stateDir: opts.stateDir,
    record: { autoRemove: opts.remove, ...opts.record },
  });
  const { state, pidfd, cg, attachments, userNet, master } = run;
  cfg = run.cfg;
  let stopForwarding = () => {};
  let relay: ReturnType<typeof relayPty> | undefined;
  let ended: Partial<ContainerState> | undefined;
  try {
    // Binding the handlers takes a few milliseconds; the kernel's teardown of a
    // short-lived container's namespaces runs meanwhile.
    // --sig-proxy=false: the signals are not passed on, and do not end ctr (which would end the
    // container with it); docker's client dies of them, but its container runs in the daemon.
    stopForwarding = opts.sigProxy === false
      ? ignoreSignals(FORWARDED)
      : forwardSignals(pidfd, FORWARDED);
    opts.hooks?.started?.(run.pid);
    if (master >= 0) relay = relayPty(master, cfg.process.stdin);
    const status = await waitPidfd(pidfd);
    trace("exited");
    const oomKilled = cg?.oomKilled() ?? false;
    if (oomKilled) {
      console.error(
        `ctr: container ${cfg.name} was killed by the OOM killer (memory limit reached)`,
      );
    }
    ended = { exitCode: status.code, oomKilled, finishedAt: new Date().toISOString() };
    if (relay) {
      // Drain what the container wrote before it ended; a background process
      // that still holds the pty must not keep ctr waiting.
      await settleWithin(relay.output, 500);
    }
    return status.code;
  } finally {
    if (ended?.oomKilled) containerEvent(state.dir, run.record, "oom");
    containerEvent(state.dir, run.record, "die", { exitCode: String(ended?.exitCode ?? 255) });
    volumeMountEvents(state.dir, run.record, "unmount");
    relay?.stop();
    stopForwarding();
    if (master >= 0) close(master);
    close(pidfd);
    const failed: Error[] = [];
    const report = (e: unknown) => {
      failed.push(e as Error);
      console.error(`ctr: ${(e as Error).message}`);
    };
    // Processes the container left behind (it may have been in no pid namespace) go first:
    // then its network namespace ends, and its veths with it.
    await cg?.killAll().catch(report);
    if (cfg.network.name || attachments.length > 0) {
      for (const a of [...attachments].reverse()) {
        await a.teardown().catch(report);
        networkEvent(state.dir, a.network, "disconnect", cfg.id);
      }
      // What `network connect` added while it ran, and what it left half-made.
      const rec = state.get(cfg.id);
      if (rec) {
        const own = new Set(attachments.map((a) => a.endpoint));
        await releaseNetworks(rec, state.dir, own).catch(report);
      }
    }
    await userNet?.teardown().catch(report);
    trace("network: released");
    await cg?.destroy().catch(report);
    trace("cgroup: removed");
    if (run.record.volumes?.length) {
      try {
        (await import("./volume.ts")).releaseVolumes(run.record, state.dir);
      } catch (e) {
        report(e);
      }
    }
    // Recorded as ended only once released: a `start` waits for that. What could not be
    // released stays recorded, for `rm -f` to finish.
    if (opts.remove && failed.length === 0) {
      removeTree(cfg.dir);
      trace("directory: removed");
      await state.locked(() => state.remove(cfg.id));
      containerEvent(state.dir, run.record, "destroy");
    } else {
      await state.update(cfg.id, (s) => ({
        ...s,
        status: "exited",
        exitCode: ended?.exitCode ?? s.exitCode ?? 255,
        oomKilled: ended?.oomKilled ?? false,
        finishedAt: ended?.finishedAt ?? new Date().toISOString(),
        ...(failed.length > 0 && { error: `cannot release: ${failed[0].message}` }),
      }));
    }
    trace("cleaned up");
  }
}
