/**
 * Start-up timing: with CTR_TRACE=1, ctr prints the milliseconds since the
 * runtime started at each milestone of a run, to stderr.
 *
 * The milestones double as fault-injection points: with `CTR_FAULT=NAME`,
 * ctr kills itself with SIGKILL when it reaches the milestone NAME (tracing
 * on or off), the way a crash, an OOM kill or a `kill -9` would stop it
 * there. tests/e2e/fault_injection.test.ts kills ctr at each one and counts
 * what is left behind.
 * @module
 */

let on = Deno.env.get("CTR_TRACE") === "1";
const fault = Deno.env.get("CTR_FAULT");

/** Turns tracing on (`--log-level debug`). */
export function traceOn(): void {
  on = true;
}

/** Notes a milestone; dies there when CTR_FAULT names it. */
export function trace(what: string): void {
  if (on) console.error(`[trace] ${performance.now().toFixed(2).padStart(8)} ms  ${what}`);
  if (what === fault) Deno.kill(Deno.pid, "SIGKILL");
}
