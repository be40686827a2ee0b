/**
 * Detached containers (`run -d`, `start`, restarts) and their watcher.
 *
 * Something must stay behind a detached container: reap it (only its parent
 * can read its exit status), write its output to the log, and release its
 * cgroup and network when it ends. A Deno process for that would cost tens
 * of megabytes per container, so the container's parent is a small static
 * program, ffi/watch/watch.c (a few pages of memory): the plan's first child
 * forks the container and then becomes that program, from a memfd
 * (lib/runtime/detached.ts), while the ctr process that launched it goes on.
 * When the container ends, the watcher writes the exit record and executes
 * `ctr __exited ID` in the same process, which releases the container,
 * applies the restart policy (starting it again under a new watcher), or
 * exits.
 * @module
 */

import type { Globals } from "./globals.ts";
import { close, unlink } from "../../ffi/sys.ts";
import { type ContainerConfig, DETACHED_ENV } from "../config/container.ts";
import { ATTACH_ENV, startContainer } from "./container.ts";
import type { WatcherFdArgs } from "../runtime/detached.ts";
import { RunError } from "../runtime/errors.ts";
import { cgroupOf, readExit, releaseResources } from "./lifecycle.ts";
import { removeTree, removeTreeAsync } from "../os/tree.ts";
import { type ContainerState, StateDir } from "./state.ts";
import { sleep } from "../os/async.ts";
import { trace } from "../trace.ts";
import { FileLock } from "../os/lock.ts";
import { containerEvent, volumeMountEvents } from "./events.ts";

/** Log rotation of a detached container (`--log-opt max-size=10m --log-opt max-file=3`). */
export interface LogOptions {
  /** Bytes per file; 0: never rotate. */
  readonly maxSize: number;
  /** Files kept, the current one included. */
  readonly maxFiles: number;
}

/** The default: 10 MB in at most 3 files, so a chatty container cannot fill the disk. */
export const DEFAULT_LOG_OPTIONS: LogOptions = { maxSize: 10_000_000, maxFiles: 3 };

/** The command line that runs this same ctr again (the packed file, or Deno and main.ts). */
export function selfCommand(): string[] {
  const packed = Deno.env.get("CTR_SELF");
  if (packed) return [packed];
  const main = new URL(Deno.mainModule).pathname;
  const config = main.slice(0, main.lastIndexOf("/")) + "/deno.json";
  let withConfig: string[] = [];
  try {
    Deno.statSync(config);
    withConfig = ["--config", config];
  } catch { /* no config beside the program: the bundle carries its imports */ }
  return [Deno.execPath(), "run", "-A", "--quiet", ...withConfig, main];
}

/** The global options, for a ctr started by this one. */
export function globalArgs(g: Globals): string[] {
  return ["--root", g.root, "--state-dir", g.stateDir, "--log-level", g.logLevel];
}

/**
 * Runs `ctr ARGS` (a command that sets a container up and becomes its
 * watcher) in its own session, and waits only for its report: the id on
 * success; otherwise its exit status (it printed the error itself).
 */
export async function runInBackground(
  args: readonly string[],
  g: Globals,
  o: { attach?: boolean } = {},
): Promise<{ id?: string; code: number }> {
  const [cmd, ...pre] = selfCommand();
  const child = new Deno.Command(cmd, {
    args: [...pre, ...globalArgs(g), ...args],
    // attach: this process attaches as soon as it has the id, and the watcher waits for it.
    env: { [DETACHED_ENV]: "1", ...(o.attach && { [ATTACH_ENV]: "1" }) },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    detached: true,
  }).spawn();
  const report = (await new Response(child.stdout).text()).trim();
  if (/^[0-9a-f]{64}$/.test(report)) {
    child.unref();
    return { id: report, code: 0 };
  }
  const status = await child.status;
  return { code: status.code === 0 ? 125 : status.code };
}

/** The log file of a container, in its directory, named as docker names it. */
export function logPathOf(cfg: ContainerConfig): string {
  return `${cfg.dir}/${cfg.id}-json.log`;
}

/**
 * Sets a container up detached: its parent, the watcher, stays behind it;
 * this process goes on. `report`: print the id on stdout (`run -d`).
 * `attach`: a client attaches right away (`start -a`, a run with a pty in the
 * foreground), so the watcher reads no output before it is there; by default
 * the environment says so (ATTACH_ENV, set by runInBackground).
 * Returns the exit status of the command (0).
 */
export async function startDetached(
  cfg: ContainerConfig,
  g: Globals,
  o: {
    existing: boolean;
    report: boolean;
    record?: Partial<ContainerState>;
    log?: LogOptions;
    attach?: boolean;
    /**
     * The caller does the exit's work (`ctr serve`, for a container that
     * removes itself): the watcher runs no `ctr __exited` after it, unless
     * health checks need the command line. Whoever lists containers next
     * finishes the work if the caller is gone by then (reconcile).
     */
    exitHere?: boolean;
    /** Called once the command runs (--pidfile). */
    started?: (pid: number) => void;
    /** Called once clients can connect to its attach socket (before the watcher runs). */
    listening?: () => void;
  },
): Promise<number> {
  const log = o.log ?? DEFAULT_LOG_OPTIONS;
  const logPath = logPathOf(cfg);
  const state = new StateDir(g.stateDir);
  const clientComing = o.attach ?? Deno.env.get(ATTACH_ENV) === "1";
  const run = await startContainer(cfg, {
    stateDir: g.stateDir,
    existing: o.existing,
    detached: {
      attachSocket: state.attachSocket(cfg.id),
      listening: o.listening,
      argv: (fds, record) =>
        watcherArgv(cfg, record, fds, { log, g, clientComing, exitHere: o.exitHere === true }),
    },
    record: { logPath, logOptions: log, ...o.record },
  });
  close(run.pidfd);
  try {
    o.started?.(run.pid);
  } catch (e) {
    console.error(`ctr: warning: ${(e as Error).message}`); // the container runs all the same
  }
  if (o.report) {
    try {
      Deno.stdout.writeSync(new TextEncoder().encode(`${run.cfg.id}\n`));
    } catch { /* the command that waited is gone (Ctrl-C): the container is still ours */ }
  }
  return 0;
}

/**
 * Starts a recorded container again (`start`, `restart`, the API's start):
 * detached, on its kept changes, with its recorded log options, the
 * stopped-by-user mark cleared first so that a restart policy counts anew.
 * `attach`: a client attaches right away (the watcher holds output for it).
 */
export async function startExisting(
  dir: StateDir,
  s: ContainerState,
  g: Globals,
  o: { attach?: boolean; exitHere?: boolean; listening?: () => void } = {},
): Promise<void> {
  if (!s.config) throw new Error(`Container ${s.name} has no recorded configuration to start`);
  // Unmarked (the usual case), nothing is written before the start's own record.
  if (s.stoppedByUser) await dir.update(s.id, (cur) => ({ ...cur, stoppedByUser: false }));
  await startDetached(s.config, g, {
    existing: true,
    report: false,
    record: { stoppedByUser: false, restartCount: 0 },
    log: s.logOptions,
    ...(o.attach !== undefined && { attach: o.attach }),
    ...(o.exitHere && { exitHere: true }),
    listening: o.listening,
  });
}

/** The watcher's command line for a container (see ffi/watch/watch.c). */
function watcherArgv(
  cfg: ContainerConfig,
  record: ContainerState,
  fds: WatcherFdArgs,
  o: { log: LogOptions; g: Globals; clientComing: boolean; exitHere: boolean },
): string[] {
  const self = [...selfCommand(), ...globalArgs(o.g)];
  const health = cfg.healthcheck;
  return [
    "ctr-watch",
    ...(fds.attach ? ["-a", fds.attach] : []),
    ...(fds.stdin ? ["-i", fds.stdin] : []),
    // stdin once: never for a pty, whose master is also the output.
    ...(record.stdinOnce && !cfg.process.terminal ? ["-o"] : []),
    ...(o.clientComing ? ["-w"] : []),
    ...(health ? ["-h", String(health.intervalMs), String(self.length + 2)] : []),
    fds.container,
    fds.stdout,
    fds.stderr,
    record.noLog ? "-" : record.logPath ?? "-",
    String(o.log.maxSize),
    String(o.log.maxFiles),
    new StateDir(o.g.stateDir).exitFile(cfg.id),
    ...(o.exitHere && !health
      ? []
      : ["--", ...self, "__exited", cfg.id, ...(health ? [...self, "__health", cfg.id] : [])]),
  ];
}

/** Whether the restart policy asks for another start after this exit. */
export function shouldRestart(s: ContainerState, exitCode: number): boolean {
  if (s.stoppedByUser || s.autoRemove) return false;
  const p = s.restartPolicy;
  if (!p || p.name === "no") return false;
  if (p.name === "on-failure") {
    return exitCode !== 0 && (p.maxRetries === 0 || (s.restartCount ?? 0) < p.maxRetries);
  }
  return true;
}

/**
 * `ctr __exited ID`: what the watcher runs when the container has ended,
 * in the same process: record the exit, release the container, restart it
 * when its policy says so.
 */
export async function exitedCommand(id: string, g: Globals): Promise<number> {
  const dir = new StateDir(g.stateDir);
  // `ctr serve` does this work itself the moment the exit record appears, for containers that
  // remove themselves (its clients wait for that): one at a time, locked on the exit record,
  // and the second finds the container gone. No record (removed meanwhile): nothing to lock,
  // and none is made by locking.
  const lock = await FileLock.acquireExisting(dir.exitFile(id));
  try {
    return await finishExit(dir, id, g);
  } finally {
    lock?.release();
  }
}

/** What exitedCommand does, under its lock. */
async function finishExit(dir: StateDir, id: string, g: Globals): Promise<number> {
  try {
    unlink(dir.attachSocket(id)); // nobody listens there any more
  } catch { /* left for the record's removal */ }
  const s = dir.get(id);
  if (!s) {
    // Removed meanwhile (rm -f): nothing is left to record, and the exit record just written
    // belongs to nobody.
    await dir.locked(() => dir.get(id) === undefined && dir.remove(id));
    return 0;
  }
  const ex = readExit(dir, id);
  const exitCode = ex?.exitCode ?? 255;
  const oomKilled = (() => {
    try {
      return cgroupOf(s)?.oomKilled() ?? false;
    } catch {
      return false;
    }
  })();
  if (oomKilled) containerEvent(g.stateDir, s, "oom");
  containerEvent(g.stateDir, s, "die", { exitCode: String(exitCode) });
  volumeMountEvents(g.stateDir, s, "unmount");
  // A container that removes itself loses its directory (on another thread) while it is
  // released, once nothing can run in it any more: the end of the PID 1 of a pid namespace
  // ends every process in it.
  const removing = s.autoRemove && s.config?.namespaces.pid.kind === "new"
    ? removeTreeAsync(s.dir).then(() => undefined, (e: Error) => e)
    : undefined;
  let released = true;
  await releaseResources(s, g.stateDir).catch(async (e) => {
    released = false;
    await dir.update(id, (cur) => ({ ...cur, error: `cannot release: ${(e as Error).message}` }));
  });
  trace("exited: released");
  const ended = {
    exitCode,
    oomKilled,
    finishedAt: ex?.finishedAt ?? new Date().toISOString(),
  };
  const notRemoved = await removing;
  if (s.autoRemove && released) {
    if (notRemoved) throw notRemoved;
    if (!removing) removeTree(s.dir);
    await dir.locked(() => dir.remove(id));
    containerEvent(g.stateDir, s, "destroy");
    return 0;
  }
  if (shouldRestart(s, exitCode) && s.config) {
    const count = (s.restartCount ?? 0) + 1;
    await dir.update(id, (cur) => ({ ...cur, ...ended, status: "restarting", pid: 0 }));
    // docker's back-off: 100 ms, doubling, at most a minute; a stop or rm ends it at once.
    const until = Date.now() + Math.min(100 * 2 ** Math.min(count - 1, 10), 60_000);
    while (Date.now() < until) {
      const now = dir.get(id);
      if (!now || now.stoppedByUser) break;
      await sleep(Math.min(100, until - Date.now()));
    }
    const cur = dir.get(id);
    if (!cur) return 0;
    if (cur && !cur.stoppedByUser) {
      try {
        await startDetached(s.config, g, {
          existing: true,
          report: false,
          record: { restartCount: count },
          log: cur.logOptions,
        });
        return 0; // running again, under a watcher of its own
      } catch (e) {
        if (!(e instanceof RunError)) throw e;
        return 0; // recorded as exited with the error by startContainer
      }
    }
  }
  await dir.update(id, (cur) => ({ ...cur, ...ended, status: "exited" }));
  return 0;
}
