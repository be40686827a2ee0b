/**
 * Processes by pid and start time: a pid alone may be reused by the time it
 * is looked at again, the pair names one process for good.
 * @module
 */

/** A process as recorded: its pid and its start time (clock ticks since boot). */
export interface ProcessRef {
  readonly pid: number;
  readonly startTime: number;
}

let ownStartTime: number | undefined;

/** The start time of a process (field 22 of /proc/PID/stat), or undefined when it is gone. */
export function processStartTime(pid: number): number | undefined {
  // This process's own, asked for by every record it writes, never changes.
  if (pid === Deno.pid && ownStartTime !== undefined) return ownStartTime;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const t = Number(fields[19]);
    if (pid === Deno.pid) ownStartTime = t;
    return t;
  } catch {
    return undefined;
  }
}

/**
 * Whether the process recorded is still alive: the same pid with the same
 * start time (a reused pid is another process). A zombie is not alive: an
 * orphan whose parent died waits there until init reaps it.
 */
export function isAlive(s: ProcessRef): boolean {
  if (s.pid <= 0) return false;
  try {
    const stat = Deno.readTextFileSync(`/proc/${s.pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] !== "Z" && fields[0] !== "X" && Number(fields[19]) === s.startTime;
  } catch {
    return false;
  }
}
