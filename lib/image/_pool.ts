/**
 * Runs async work on a list with bounded parallelism; the first failure
 * aborts the rest (through the AbortSignal each call gets) and, once every
 * call has ended, is thrown.
 * @module
 */

/** Calls `fn` on each item, at most `limit` at a time, in order of the list. */
export async function inPool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const ac = new AbortController();
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++];
      try {
        await fn(item, ac.signal);
      } catch (e) {
        if (!failure) {
          failure = { error: e };
          ac.abort(e);
        }
      }
    }
  };
  const n = Math.max(1, Math.min(limit, items.length));
  await Promise.all(Array.from({ length: n }, worker));
  if (failure) throw failure.error;
}
