/**
 * One container from start to end: its directory (upper, work, merged), the
 * plan (namespaces, root filesystem, process), the parent's work at the sync
 * points (uid/gid maps, the pty), signals, the wait, and the cleanup that
 * leaves nothing behind.
 * @module
 */

import { close, pipe } from "../../ffi/sys.ts";
import type { ContainerConfig, IdMap, UserMount } from "../config/container.ts";
import { containerPlan, PHASE_START, showPlan } from "../runtime/container_plan.ts";
import { planFailure, RunError } from "../runtime/errors.ts";
import { readPlanHost } from "../runtime/host.ts";
import { launch } from "../runtime/launch.ts";
import { type Plan, PlanError } from "../runtime/plan.ts";
import { lookup } from "../runtime/paths.ts";
import { removeTree } from "../os/tree.ts";
import { linkLayers, needsLayerLinks } from "../runtime/rootfs.ts";
import { forwardSignals, waitPidfd } from "../runtime/spawn.ts";
import { relayPty } from "../runtime/tty.ts";
import { trace } from "../trace.ts";
import { type Cgroup, type CgroupLayout, openCgroupDriver } from "../cgroups/mod.ts";
import type { Limits } from "../cgroups/limits.ts";
import { type ContainerState, StateDir } from "./state.ts";
import { randomName } from "../config/names.ts";
import { isAlive, processStartTime } from "../os/proc.ts";
import { networkFilePaths, writeNetworkFiles } from "../network/resolv.ts";
import type { Attachment } from "../network/bridge.ts";
import { settleWithin } from "../os/async.ts";
import { containerEvent, networkEvent, volumeMountEvents } from "./events.ts";

/** Signals ctr passes on to a foreground container. */
const FORWARDED: readonly Deno.Signal[] = [
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGTERM",
  "SIGUSR1",
  "SIGUSR2",
  "SIGALRM",
  "SIGCONT",
];

/** The plan as `--dry-run` prints it. */
export function dryRun(cfg: ContainerConfig): string {
  return showPlan(containerPlan(cfg, readPlanHost()));
}

/** Where the container's pid goes, for callers that watch it. */
export interface RunHooks {
  /** Called once the container has exec'd. */
  started?(pid: number): void;
}

function stateOf(
  cfg: ContainerConfig,
  pid: number,
  startTime: number,
  status: ContainerState["status"],
  cg?: Cgroup,
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
    cgroups: cg ? Object.values(cg.paths) : [],
    cgroupPaths: cg ? { ...cg.paths } : {},
    network: cfg.network.name,
    root: cfg.dir.slice(0, cfg.dir.lastIndexOf("/containers/")),
    config: cfg,
  };
}

/**
 * With its own network namespace a container gets ctr's /etc/hosts,
 * /etc/resolv.conf and /etc/hostname (bind mounts of files in its directory,
 * which joining a network rewrites in place).
 */
function withNetworkFiles(cfg: ContainerConfig): ContainerConfig {
  if (cfg.namespaces.net.kind !== "new") return cfg;
  const files = networkFilePaths(cfg.dir);
  const binds: UserMount[] = [
    { type: "bind", source: files.hosts, destination: "/etc/hosts", readonly: false },
    { type: "bind", source: files.resolvConf, destination: "/etc/resolv.conf", readonly: false },
    { type: "bind", source: files.hostname, destination: "/etc/hostname", readonly: false },
  ].filter((b) =>
    !cfg.mounts.some((m) => m.destination === b.destination) &&
    // A remapped root cannot create a mount point in a directory the host's root owns.
    (cfg.namespaces.user.kind !== "new" || lookup(cfg.layers, b.destination) !== undefined)
  ) as UserMount[];
  return { ...cfg, mounts: [...binds, ...cfg.mounts] };
}

/** Joins the container (its init is `pid`) to its network: veth, address, routes, NAT, ports. */
async function attach(cfg: ContainerConfig, pid: number, proxy: boolean): Promise<Attachment> {
  const root = cfg.dir.slice(0, cfg.dir.lastIndexOf("/containers/"));
  const stateDir = cfg.stateDir ?? "/run/ctr";
  // Loaded only for containers that join a network: bridges, NAT and the proxy weigh.
  const { attachContainer, Nat, NetworkStore } = await import("../network/mod.ts");
  const store = new NetworkStore({ root, stateDir });
  const nat = new Nat({ stateDir });
  let a: Attachment;
  try {
    a = await attachContainer({
      store,
      nat,
      network: cfg.network.name,
      containerId: cfg.id,
      pid,
      ip: cfg.network.ip,
      name: cfg.name,
      hostname: cfg.hostname,
      aliases: cfg.network.aliases,
      ports: cfg.network.ports,
      masquerade: true,
      proxy,
      filesDir: cfg.dir,
    });
  } catch (e) {
    throw new RunError(
      `Cannot connect the container to network ${cfg.network.name}: ${(e as Error).message}`,
      125,
    );
  }
  for (const w of a.warnings) console.error(`ctr: warning: ${w}`);
  networkEvent(stateDir, store.find(cfg.network.name ?? "bridge"), "connect", cfg.id);
  return a;
}

/** Records that the container left its network (the foreground's own teardown). */
async function networkDisconnected(cfg: ContainerConfig): Promise<void> {
  if (!cfg.network.name) return;
  const root = cfg.dir.slice(0, cfg.dir.lastIndexOf("/containers/"));
  const stateDir = cfg.stateDir ?? "/run/ctr";
  const { NetworkStore } = await import("../network/mod.ts");
  const store = new NetworkStore({ root, stateDir });
  networkEvent(stateDir, store.find(cfg.network.name), "disconnect", cfg.id);
}

/** Whether the limits ask for anything beyond accounting and device rules. */
function limitsAsked(l: Limits): boolean {
  return Object.keys(l).some((k) => k !== "devices" && k !== "oomScoreAdj");
}

/** Makes the container's cgroup and applies its limits; undefined when the host has none and none are asked. */
function makeCgroup(cfg: ContainerConfig, layout: CgroupLayout | undefined): Cgroup | undefined {
  let driver;
  try {
    driver = openCgroupDriver(layout ? { layout } : {});
  } catch (e) {
    if (limitsAsked(cfg.cgroup.limits)) {
      throw new RunError(`Cannot apply resource limits: ${(e as Error).message}`, 125);
    }
    return undefined;
  }
  const cg = driver.create(cfg.id, cfg.cgroup.parent);
  try {
    cg.apply(cfg.cgroup.limits);
  } catch (e) {
    cg.destroy().catch(() => {});
    throw new RunError(`Cannot apply resource limits: ${(e as Error).message}`, 125);
  }
  return cg;
}

/** Prepares the container's directory; upper/work belong to the container's root user. */
function prepareDir(cfg: ContainerConfig): void {
  const containers = cfg.dir.slice(0, cfg.dir.lastIndexOf("/"));
  Deno.mkdirSync(containers, { recursive: true, mode: 0o711 });
  Deno.mkdirSync(cfg.dir, { mode: 0o711 });
  for (const d of ["upper", "work", "merged"]) Deno.mkdirSync(`${cfg.dir}/${d}`, { mode: 0o755 });
  // Image garbage collection keeps the layers that a container records here.
  Deno.writeTextFileSync(`${cfg.dir}/layers.json`, JSON.stringify(cfg.layers) + "\n");
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

/** How startContainer() sets a container up. */
export interface StartOptions {
  /** ctr's state directory (default /run/ctr). */
  readonly stateDir?: string;
  /** The container exists already (`ctr start`, a restart): keep its directory and name. */
  readonly existing?: boolean;
  /**
   * Detached: the container outlives this process (no death signal, no port
   * proxies here), and its stdout and stderr go to pipes for the watcher.
   */
  readonly detached?: boolean;
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
  readonly attachment?: Attachment;
  /** The pty master (-t), else -1. */
  readonly master: number;
  /** Detached without a pty: the read ends of its stdout and stderr pipes. */
  readonly stdout: number;
  readonly stderr: number;
  /** What is recorded in the state directory now. */
  readonly record: ContainerState;
}

/** Reserves the container's name and id in the state directory (status created). */
async function reserve(cfg: ContainerConfig, state: StateDir, o: StartOptions) {
  let out = cfg;
  const me = { pid: Deno.pid, startTime: processStartTime(Deno.pid) ?? 0 };
  if (o.existing) await waitForPreviousWatcher(state, cfg.id);
  await state.locked(() => {
    const all = state.list();
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
        Deno.removeSync(state.exitFile(cfg.id));
      } catch { /* none */ }
      state.write({
        ...s,
        ...o.record,
        status: "created",
        startTime: 0,
        error: undefined,
        watcher: me,
      });
      return;
    }
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
    state.write({ ...stateOf(out, 0, 0, "created"), ...o.record, watcher: me });
  });
  containerEvent(state.dir, { ...out, labels: o.record?.labels }, "create");
  return out;
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
 * Sets a container up and starts its command: state, directory, plan,
 * cgroup, spawn, network. On failure everything made so far is undone (a new
 * container leaves nothing; an existing one keeps its directory, marked
 * exited with the error).
 */
export async function startContainer(cfg: ContainerConfig, o: StartOptions): Promise<Started> {
  cfg = { ...cfg, stateDir: o.stateDir ?? cfg.stateDir };
  const state = new StateDir(o.stateDir ?? "/run/ctr");
  cfg = await reserve(cfg, state, o);
  let cg: Cgroup | undefined;
  let attachment: Attachment | undefined;
  let master = -1;
  let pipes: number[] = [];
  try {
    if (!o.existing) prepareDir(cfg);
    if (needsLayerLinks(cfg, cfg.namespaces.user.kind === "new")) linkLayers(cfg);
    if (cfg.namespaces.net.kind === "new") {
      writeNetworkFiles(cfg.dir, { hostname: cfg.hostname ?? cfg.id.slice(0, 12), name: cfg.name });
    }
    let runCfg = cfg;
    if (o.detached) {
      runCfg = { ...cfg, process: { ...cfg.process, dieWithParent: false } };
      if (!cfg.process.terminal) {
        const [outR, outW] = pipe();
        const [errR, errW] = pipe();
        pipes = [outR, errR, outW, errW];
        runCfg = {
          ...runCfg,
          process: { ...runCfg.process, stdio: { stdout: outW, stderr: errW } },
        };
      }
    }
    trace("plan: start");
    const host = readPlanHost();
    let plan: Plan;
    try {
      plan = containerPlan(withNetworkFiles(runCfg), host);
    } catch (e) {
      throw e instanceof RunError ? e : new RunError((e as Error).message, 125);
    }
    trace("plan: built");
    cg = makeCgroup(cfg, host.cgroups);
    trace("container directory and cgroup ready");
    let spawned;
    try {
      spawned = await launch(plan, {
        idMaps: cfg.namespaces.user.kind === "new"
          ? { uid: cfg.uidMap, gid: cfg.gidMap }
          : undefined,
        cgroup: cg,
        oomScoreAdj: cfg.cgroup.limits.oomScoreAdj,
        ptyOwner: cfg.process.terminal ? cfg.process.uid : undefined,
        onPhase: async (phase, pid) => {
          if (phase === PHASE_START && cfg.network.name) {
            attachment = await attach(cfg, pid, !o.detached);
          }
        },
      });
      master = spawned.master;
    } catch (e) {
      if (e instanceof PlanError) {
        throw planFailure(e, cfg.process.args[0], "Cannot start the container");
      }
      throw e instanceof RunError ? e : new RunError((e as Error).message, 125);
    }
    trace("exec'd");
    // The container holds the write ends now; the watcher must see EOF when it ends.
    for (const fd of pipes.splice(2)) close(fd);
    const a = attachment as Attachment | undefined;
    const pidStart = processStartTime(spawned.pid) ?? 0;
    const record = await state.update(cfg.id, (cur) => ({
      ...cur,
      ...stateOf(cfg, spawned.pid, pidStart, "running", cg),
      ...o.record,
      created: cur.created,
      startedAt: new Date().toISOString(),
      watcher: { pid: Deno.pid, startTime: processStartTime(Deno.pid) ?? 0 },
      ...(a && {
        ip: a.ip,
        prefixLen: a.prefixLen,
        gateway: a.gateway,
        mac: a.mac,
        ports: a.ports,
      }),
    }));
    if (!record) throw new RunError(`Container ${cfg.name} was removed while it started`, 125);
    volumeMountEvents(state.dir, record, "mount");
    containerEvent(state.dir, record, "start");
    return {
      cfg,
      state,
      pid: spawned.pid,
      pidfd: spawned.pidfd,
      cg,
      attachment: a,
      master,
      stdout: pipes[0] ?? -1,
      stderr: pipes[1] ?? -1,
      record,
    };
  } catch (e) {
    for (const fd of pipes) close(fd);
    if (master >= 0) close(master);
    await (attachment as Attachment | undefined)?.teardown().catch(() => {});
    await cg?.killAll().catch(() => {});
    await cg?.destroy().catch(() => {});
    if (o.existing) {
      await state.update(cfg.id, (s) => ({
        ...s,
        status: "exited",
        exitCode: e instanceof RunError ? e.exitCode : 125,
        error: (e as Error).message,
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
 * Runs a container in the foreground and returns its exit code (128+N when
 * killed by signal N). With `remove`, its directory is deleted afterwards.
 */
export async function runContainer(
  cfg: ContainerConfig,
  opts: { remove: boolean; hooks?: RunHooks; stateDir?: string; record?: Partial<ContainerState> },
): Promise<number> {
  const run = await startContainer(cfg, {
    stateDir: opts.stateDir,
    record: { autoRemove: opts.remove, ...opts.record },
  });
  const { state, pidfd, cg, attachment, master } = run;
  cfg = run.cfg;
  let stopForwarding = () => {};
  let relay: ReturnType<typeof relayPty> | undefined;
  let ended: Partial<ContainerState> | undefined;
  try {
    // Binding the handlers takes a few milliseconds; the kernel's teardown of a
    // short-lived container's namespaces runs meanwhile.
    stopForwarding = forwardSignals(pidfd, FORWARDED);
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
    if (attachment) {
      await attachment.teardown().catch((e) => console.error(`ctr: ${(e as Error).message}`));
      await networkDisconnected(cfg);
    }
    if (cg) {
      // Processes the container left behind (it may have been in no pid namespace) go too.
      await cg.killAll().catch((e) => console.error(`ctr: ${(e as Error).message}`));
      await cg.destroy().catch((e) => console.error(`ctr: ${(e as Error).message}`));
    }
    // Recorded as ended only once released: a `start` waits for that.
    if (opts.remove) {
      removeTree(cfg.dir);
      await state.locked(() => state.remove(cfg.id));
      containerEvent(state.dir, run.record, "destroy");
    } else {
      await state.update(cfg.id, (s) => ({
        ...s,
        status: "exited",
        exitCode: ended?.exitCode ?? s.exitCode ?? 255,
        oomKilled: ended?.oomKilled ?? false,
        finishedAt: ended?.finishedAt ?? new Date().toISOString(),
      }));
    }
    trace("cleaned up");
  }
}
