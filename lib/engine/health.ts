/**
 * Health checks of running containers. The watcher of a detached container
 * (ffi/watch/watch.c, `-h`) runs `ctr __health ID` every interval while the
 * container runs, one at a time; that command runs the check in the
 * container as `ctr exec` would (its namespaces, cgroup, user, environment,
 * confinement), with a timeout, and records the outcome in the container's
 * state as docker does: the status (starting, healthy, unhealthy), the
 * failing streak and the last five results. `ps` and `inspect` read it.
 * @module
 */

import { O } from "../../ffi/constants.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { close, pipe, readSync, sys } from "../../ffi/sys.ts";
import { sleep } from "../os/async.ts";
import type { HealthcheckSpec } from "../config/container.ts";
import { healthArgv } from "../config/health.ts";
import type { Globals } from "./globals.ts";
import { cgroupOf, isRunning } from "./lifecycle.ts";
import { type ContainerState, type HealthState, StateDir } from "./state.ts";

/** fcntl(2) command: set the file status flags (O_NONBLOCK). */
const F_SETFL = 4;

/** docker's limits: a check's output is cut at 4096 bytes, and the last 5 results are kept. */
export const HEALTH_OUTPUT_MAX = 4096;
export const HEALTH_LOG_MAX = 5;

/** One check's result. */
export interface ProbeResult {
  readonly start: Date;
  readonly end: Date;
  /** 0 healthy, anything else a failure; -1 when it timed out or could not run. */
  readonly exitCode: number;
  readonly output: string;
}

/**
 * The health after a check, by docker's rules: a success makes the
 * container healthy and clears the streak; a failure adds to the streak and
 * makes it unhealthy at `retries`, except while it is still starting within
 * its start period (`startedAt`), when failures do not count. Pure.
 */
export function nextHealth(
  prev: HealthState | undefined,
  r: ProbeResult,
  spec: Pick<HealthcheckSpec, "retries" | "startPeriodMs">,
  startedAt: string | undefined,
): HealthState {
  const Log = [
    ...(prev?.Log ?? []),
    {
      Start: r.start.toISOString(),
      End: r.end.toISOString(),
      ExitCode: r.exitCode,
      Output: r.output,
    },
  ].slice(-HEALTH_LOG_MAX);
  let Status = prev?.Status ?? "starting";
  let FailingStreak = prev?.FailingStreak ?? 0;
  if (r.exitCode === 0) {
    FailingStreak = 0;
    Status = "healthy";
  } else {
    const since = startedAt ? r.start.getTime() - Date.parse(startedAt) : Infinity;
    if (!(Status === "starting" && since < spec.startPeriodMs)) {
      FailingStreak++;
      if (FailingStreak >= spec.retries) Status = "unhealthy";
    }
  }
  return { Status, FailingStreak, Log };
}

/** What `ps` adds to "Up 5 seconds": ` (healthy)`, ` (unhealthy)`, ` (health: starting)`, or "". */
export function healthSuffix(s: Pick<ContainerState, "health" | "status">): string {
  if (!s.health || (s.status !== "running" && s.status !== "paused")) return "";
  return s.health.Status === "starting" ? " (health: starting)" : ` (${s.health.Status})`;
}

/**
 * Reads a non-blocking pipe until EOF or `until` resolves, keeping the first
 * `max` bytes: a process the check left in the background may hold the pipe
 * open for ever, and must not hold the check.
 */
async function collect(fd: number, until: Promise<unknown>, max: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let done = false;
  until.then(() => done = true);
  const buf = new Uint8Array(4096);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, "health check output");
    } catch (e) {
      if (!(e instanceof SyscallError && e.code === "EAGAIN")) break;
      if (done) break;
      await sleep(20);
      continue;
    }
    if (n === 0) break;
    if (kept < max) {
      const part = buf.slice(0, Math.min(n, max - kept));
      chunks.push(part);
      kept += part.length;
    }
  }
  const out = new Uint8Array(kept);
  let off = 0;
  for (const c of chunks) out.set(c, off), off += c.length;
  return out;
}

/**
 * Runs the check once in the running container `s` and returns its result:
 * its exit code and output, or -1 and docker's words when it ran out of
 * time (it is killed then) or could not start.
 */
export async function probe(s: ContainerState, spec: HealthcheckSpec): Promise<ProbeResult> {
  const cfg = s.config!;
  const start = new Date();
  const [r, w] = pipe();
  sys("fcntl", "health check pipe", r, F_SETFL, O.NONBLOCK);
  let run;
  try {
    const { execProcess } = await import("../runtime/exec.ts");
    run = await execProcess({
      pid: s.pid,
      cgroup: cgroupOf(s),
      args: healthArgv(spec),
      env: cfg.process.env,
      cwd: cfg.process.cwd,
      uid: cfg.process.uid,
      gid: cfg.process.gid,
      groups: cfg.process.groups,
      caps: cfg.process.caps,
      noNewPrivileges: cfg.process.noNewPrivileges,
      seccomp: cfg.process.seccomp,
      apparmorProfile: cfg.process.apparmorProfile,
      tty: false,
      interactive: false,
      detach: false,
      stdio: { stdout: w, stderr: w },
      what: `container ${s.name}`,
    });
  } catch (e) {
    close(r);
    close(w);
    return { start, end: new Date(), exitCode: -1, output: (e as Error).message };
  }
  close(w);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((res) => {
    timer = setTimeout(() => res("timeout"), spec.timeoutMs);
  });
  const waited = run.wait();
  // Read while it runs (a full pipe would stop it), and a little after it ends.
  const output = collect(r, waited.catch(() => {}).then(() => sleep(100)), HEALTH_OUTPUT_MAX);
  const outcome = await Promise.race([waited, timedOut]);
  if (outcome === "timeout") {
    try {
      Deno.kill(run.pid, "SIGKILL");
    } catch { /* ended meanwhile */ }
    await waited.catch(() => {});
  }
  clearTimeout(timer);
  const bytes = await output;
  close(r);
  const end = new Date();
  if (outcome === "timeout") {
    return {
      start,
      end,
      exitCode: -1,
      output: `Health check exceeded timeout (${formatSeconds(spec.timeoutMs)})`,
    };
  }
  return { start, end, exitCode: outcome, output: new TextDecoder().decode(bytes) };
}

/** Milliseconds as Go prints a duration of whole or fractional seconds: `30s`, `1.5s`, `500ms`. */
function formatSeconds(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
}

/**
 * `ctr __health ID`: one check of a running container, recorded in its
 * state; nothing when it runs no more, is paused, or has no check.
 */
export async function healthCommand(id: string, g: Globals): Promise<number> {
  const dir = new StateDir(g.stateDir);
  const s = dir.get(id);
  const spec = s?.config?.healthcheck;
  if (!s || !spec || !isRunning(s) || s.status === "paused") return 0;
  const result = await probe(s, spec);
  await dir.update(id, (cur) =>
    // A container that ended or started again meanwhile is not what was checked.
    cur.pid !== s.pid || cur.startTime !== s.startTime
      ? cur
      : { ...cur, health: nextHealth(cur.health, result, spec, cur.startedAt) });
  return 0;
}
