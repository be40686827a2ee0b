/**
 * The settings every command runs with: where the store and the runtime
 * state live, and how much to log. The CLI fills them from its global
 * options; the engine passes them on to the processes it starts (a detached
 * container's watcher runs ctr again with the same ones).
 * @module
 */

/** Global settings every command sees. */
export interface Globals {
  /** Store of containers and images (default /var/lib/ctr). */
  readonly root: string;
  /** Runtime state (default /run/ctr). */
  readonly stateDir: string;
  /** error, warn, info or debug. */
  readonly logLevel: string;
  /** Run by a user without privileges: see lib/engine/rootless.ts. */
  readonly rootless?: boolean;
}
