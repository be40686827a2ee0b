/**
 * Detached containers (`run -d`, `start`, restarts) and their watcher.
 *
 * Something must stay behind a detached container: reap it (only its parent
 * can read its exit status), write its output to the log, and release its
 * cgroup and network when it ends. A Deno process for that would cost tens
 * of megabytes per container, so the process that set the container up,
 * which is its parent, replaces itself (execveat of a memfd) with a small
 * static program, ffi/watch/watch.c: same pid, so still the parent, and a
 * few pages of memory. When the container ends, the watcher writes the exit
 * record and executes `ctr __exited ID` in the same process again, which
 * releases the container, applies the restart policy (starting it again and
 * becoming the watcher again), or exits.
 *
 * `ctr run -d` itself returns at once: it starts that setup process as a
 * detached child (its own session) and prints the id the child reports on
 * a pipe; an error the child meets is printed by the child and becomes the
 * exit status.
 * @module
 */

import type { Globals } from "./globals.ts";
import { O } from "../../ffi/constants.ts";
import { close, open, sys } from "../../ffi/sys.ts";
import { execWatcher, keepAcrossExec, openWatcher } from "../../ffi/watch.ts";
import { type ContainerConfig, DETACHED_ENV } from "../config/container.ts";
import { startContainer, type Started } from "./container.ts";
import { RunError } from "../runtime/errors.ts";
import { cgroupOf, readExit, releaseResources } from "./lifecycle.ts";
import { removeTree } from "../os/tree.ts";
import { type ContainerState, StateDir } from "./state.ts";
import { sleep } from "../os/async.ts";
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
): Promise<{ id?: string; code: number }> {
  const [cmd, ...pre] = selfCommand();
  const child = new Deno.Command(cmd, {
    args: [...pre, ...globalArgs(g), ...args],
    env: { [DETACHED_ENV]: "1" },
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

/**
 * Hands a started detached container to the watcher: this process becomes
 * it (never returns). `report`: print the id on stdout first (for the
 * `run -d` that waits for it).
 */
export async function becomeWatcher(
  run: Started,
  g: Globals,
  log: LogOptions,
  report: boolean,
): Promise<never> {
  const id = run.cfg.id;
  // Without a watcher nobody would reap, log or release the container: end it now and say why.
  const abandon = async (e: unknown) => {
    try {
      Deno.kill(run.pid, "SIGKILL");
    } catch { /* gone */ }
    await releaseResources(run.record, g.stateDir).catch(() => {});
    await run.state.update(id, (cur) => ({
      ...cur,
      status: "exited",
      exitCode: 125,
      error: `cannot start the watcher: ${(e as Error).message}`,
    }));
  };
  let memfd: number;
  try {
    memfd = openWatcher();
  } catch (e) {
    await abandon(e);
    throw new RunError(`Cannot start the watcher: ${(e as Error).message}`, 125);
  }
  const out = run.master >= 0 ? run.master : run.stdout;
  const err = run.master >= 0 ? -1 : run.stderr;
  for (const fd of [out, err]) if (fd >= 0) keepAcrossExec(fd);
  close(run.pidfd);
  if (report) {
    try {
      Deno.stdout.writeSync(new TextEncoder().encode(`${id}\n`));
    } catch { /* the command that waited is gone (Ctrl-C): the container is still ours */ }
  }
  // The watcher holds no terminal and no pipe of the command that started it.
  const devNull = open("/dev/null", O.RDWR);
  for (const fd of [0, 1, 2]) sys("dup3", "/dev/null", devNull, fd, 0);
  close(devNull);
  const env = Deno.env.toObject();
  delete env[DETACHED_ENV];
  try {
    execWatcherOrThrow(memfd, run, log, g, env);
  } catch (e) {
    await abandon(e);
    Deno.exit(125);
  }
}

function execWatcherOrThrow(
  memfd: number,
  run: Started,
  log: LogOptions,
  g: Globals,
  env: Record<string, string>,
): never {
  const id = run.cfg.id;
  const out = run.master >= 0 ? run.master : run.stdout;
  const err = run.master >= 0 ? -1 : run.stderr;
  execWatcher(memfd, [
    "ctr-watch",
    String(run.pid),
    String(out),
    String(err),
    run.record.logPath ?? "-",
    String(log.maxSize),
    String(log.maxFiles),
    run.state.exitFile(id),
    "--",
    ...selfCommand(),
    ...globalArgs(g),
    "__exited",
    id,
  ], env);
}

/** The log file of a container, in its directory, named as docker names it. */
export function logPathOf(cfg: ContainerConfig): string {
  return `${cfg.dir}/${cfg.id}-json.log`;
}

/** Sets a container up detached and becomes its watcher. */
export async function startDetached(
  cfg: ContainerConfig,
  g: Globals,
  o: {
    existing: boolean;
    report: boolean;
    record?: Partial<ContainerState>;
    log?: LogOptions;
  },
): Promise<never> {
  const log = o.log ?? DEFAULT_LOG_OPTIONS;
  const run = await startContainer(cfg, {
    stateDir: g.stateDir,
    existing: o.existing,
    detached: true,
    record: { logPath: logPathOf(cfg), logOptions: log, ...o.record },
  });
  return await becomeWatcher(run, g, log, o.report);
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
  const s = dir.get(id);
  if (!s) return 0; // removed meanwhile (rm -f): nothing is left to record
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
  await releaseResources(s, g.stateDir).catch((e) =>
    dir.update(id, (cur) => ({ ...cur, error: (e as Error).message }))
  );
  const ended = {
    exitCode,
    oomKilled,
    finishedAt: ex?.finishedAt ?? new Date().toISOString(),
  };
  if (s.autoRemove) {
    removeTree(s.dir);
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
      } catch (e) {
        if (!(e instanceof RunError)) throw e;
        return 0; // recorded as exited with the error by startContainer
      }
    }
  }
  await dir.update(id, (cur) => ({ ...cur, ...ended, status: "exited" }));
  return 0;
}
