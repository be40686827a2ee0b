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

/** The start time of a process (field 22 of /proc/PID/stat), or undefined when it is gone. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[19]);
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
