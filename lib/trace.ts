/**
 * Start-up timing: with CTR_TRACE=1, ctr prints the milliseconds since the
 * runtime started at each milestone of a run, to stderr.
 * @module
 */

let on = Deno.env.get("CTR_TRACE") === "1";

/** Turns tracing on (`--log-level debug`). */
export function traceOn(): void {
  on = true;
}

/** Notes a milestone. */
export function trace(what: string): void {
  if (on) console.error(`[trace] ${performance.now().toFixed(2).padStart(8)} ms  ${what}`);
}
