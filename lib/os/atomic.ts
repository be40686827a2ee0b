/**
 * Files replaced whole: written under a temporary name that carries the
 * writer's pid, then renamed over the old one, so a reader sees the old text
 * or the new, never half. A writer killed between the two steps leaves its
 * temporary file behind; the pid in its name says whose it was, and
 * sweepTemp() removes those of writers that are gone.
 * @module
 */

import { processStartTime } from "./proc.ts";

/** `NAME.PID.RANDOM.tmp`: the temporary files written by writeAtomic. */
const TEMP = /^(.+)\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/** Writes `text` to `path` atomically (temporary name, rename). */
export function writeAtomic(path: string, text: string, opts: { mode?: number } = {}): void {
  // A name of its own per writer: two writers never rename each other's file.
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    Deno.writeTextFileSync(tmp, text, { mode: opts.mode ?? 0o600 });
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not made */ }
    throw e;
  }
}

/**
 * Removes the temporary files in `dir` whose writer is no longer running
 * (killed between write and rename); returns their paths. A live writer's
 * file is left alone: it is about to be renamed.
 */
export function sweepTemp(dir: string): string[] {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return removed;
  }
  for (const e of entries) {
    const m = e.isFile ? TEMP.exec(e.name) : null;
    if (!m || processStartTime(Number(m[2])) !== undefined) continue;
    try {
      Deno.removeSync(`${dir}/${e.name}`);
      removed.push(`${dir}/${e.name}`);
    } catch { /* removed meanwhile */ }
  }
  return removed;
}
