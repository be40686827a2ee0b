/**
 * Waiting: a pause, and a wait that gives up after a while.
 * @module
 */

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits for `p` at most `ms` milliseconds: for output that should be drained
 * before moving on, but that a stray process holding a pipe must not make
 * wait forever. Never rejects.
 */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    p.catch(() => {}),
    new Promise((r) => timer = setTimeout(r, ms)),
  ]);
  clearTimeout(timer);
}

/**
 * Waits for every promise, then throws the first failure in list order (or
 * returns the values): for work that must all have ended (no file half
 * written) before an error goes up.
 */
export async function allSettledFirstError<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  for (const r of results) if (r.status === "rejected") throw r.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
