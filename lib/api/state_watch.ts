/**
 * The server's view of changes to the state directory: one inotify watch
 * (Deno.watchFs) wakes whoever waits for a container's state to change
 * (`wait`, attach) at once instead of on a poll's next tick, keeps the
 * exit codes the watchers write, so that `wait?condition=removed` can
 * answer with the code of a container that removed itself (AutoRemove:
 * its exit record goes with it), and says when an exit record appears.
 * @module
 */

import { readExit } from "../engine/lifecycle.ts";
import type { StateDir } from "../engine/state.ts";

/**
 * A container's record or exit record in the state directory (a temporary
 * file wakes nobody: its rename into place does).
 */
const CONTAINER_FILE = /^([0-9a-f]{64})\.(?:json|exit)$/;

/** How many exit codes of removed containers are kept for late waits. */
const KEPT_CODES = 4096;

/** Changes to one state directory, as this process sees them. */
export class StateWatch {
  /** Who waits for a change to which container's files (its id: their names' first 64 characters). */
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #codes = new Map<string, number>();
  #watcher: Deno.FsWatcher | undefined;
  #failed = false;

  /** `onExit`: called with a container's id when its exit record appears. */
  constructor(readonly dir: StateDir, readonly onExit: (id: string) => void = () => {}) {}

  /**
   * Resolves at the next change to the files of container `id` (its record,
   * its exit record), or after `timeoutMs` (the fallback poll). Only its own
   * files wake it: with many containers starting at once, a wait that woke at
   * every write in the directory would read its record for each of them.
   */
  changed(id: string, timeoutMs: number): Promise<void> {
    this.start();
    return new Promise((resolve) => {
      let set = this.#waiters.get(id);
      if (!set) this.#waiters.set(id, set = new Set());
      const waiting = set;
      const done = () => {
        clearTimeout(timer);
        waiting.delete(done);
        if (waiting.size === 0 && this.#waiters.get(id) === waiting) this.#waiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      waiting.add(done);
    });
  }

  /**
   * Wakes whoever waits on `id` now: a change this process made itself (its
   * removal of a container that removed itself) is known before inotify says so.
   */
  poke(id: string): void {
    for (const wake of [...(this.#waiters.get(id) ?? [])]) wake();
  }

  /**
   * A watcher told an attached client that its container ended: the exit
   * record is written by then, and is noted now rather than at inotify's word.
   */
  exitSeen(id: string): void {
    this.#note(this.dir.exitFile(id));
  }

  /** The exit code the watcher wrote for `id`, read when it appeared (or now). */
  exitCode(id: string): number | undefined {
    return this.#codes.get(id) ?? readExit(this.dir, id)?.exitCode;
  }

  /** Stops watching (the server's end). */
  close(): void {
    try {
      this.#watcher?.close();
    } catch { /* closed */ }
    this.#watcher = undefined;
  }

  /** Watches from now on (done by the first wait anyway). */
  start(): void {
    if (this.#watcher || this.#failed) return;
    try {
      this.#watcher = Deno.watchFs(this.dir.dir, { recursive: false });
    } catch {
      this.#failed = true; // no inotify: the waits poll at their timeout
      return;
    }
    const w = this.#watcher;
    (async () => {
      for await (const ev of w) {
        // No change to wake anyone for: a file closed after writing (a lock's open and close:
        // a real write comes with its own events), and the report of a rename's two names
        // together (`[from, to]`), which follows one of each name alone.
        if (ev.kind === "access" || (ev.kind === "rename" && ev.paths.length > 1)) continue;
        for (const p of ev.paths) {
          if (p.endsWith(".exit") && ev.kind !== "remove") this.#note(p);
          const id = CONTAINER_FILE.exec(p.slice(p.lastIndexOf("/") + 1))?.[1];
          for (const wake of [...(id && this.#waiters.get(id) || [])]) wake();
        }
      }
    })().catch(() => {});
  }

  #note(path: string): void {
    const id = path.slice(path.lastIndexOf("/") + 1, -".exit".length);
    const ex = readExit(this.dir, id); // a record still being written is read at its next event
    if (!ex) return;
    const known = this.#codes.has(id);
    this.#codes.delete(id);
    this.#codes.set(id, ex.exitCode);
    if (this.#codes.size > KEPT_CODES) this.#codes.delete(this.#codes.keys().next().value!);
    if (!known) this.onExit(id);
  }
}
