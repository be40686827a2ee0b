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

/** How many exit codes of removed containers are kept for late waits. */
const KEPT_CODES = 4096;

/** Changes to one state directory, as this process sees them. */
export class StateWatch {
  readonly #waiters = new Set<() => void>();
  readonly #codes = new Map<string, number>();
  #watcher: Deno.FsWatcher | undefined;
  #failed = false;

  /** `onExit`: called with a container's id when its exit record appears. */
  constructor(readonly dir: StateDir, readonly onExit: (id: string) => void = () => {}) {}

  /** Resolves at the next change in the directory, or after `timeoutMs` (the fallback poll). */
  changed(timeoutMs: number): Promise<void> {
    this.start();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
    });
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
        for (const p of ev.paths) if (p.endsWith(".exit")) this.#note(p);
        for (const wake of [...this.#waiters]) wake();
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
