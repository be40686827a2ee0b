/**
 * Start-up timing: with CTR_TRACE=1, ctr prints the milliseconds since the
 * runtime started at each milestone of a run, to stderr.
 * @module
 */

const on = Deno.env.get("CTR_TRACE") === "1";

/** Notes a milestone. */
export function trace(what: string): void {
  if (on) console.error(`[trace] ${performance.now().toFixed(2).padStart(8)} ms  ${what}`);
}
