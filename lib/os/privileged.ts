/**
 * What a process without privileges cannot do to its own files itself, and
 * hands to a helper that can: a rootless ctr owns a range of subordinate
 * ids, but only a process in a user namespace that maps them may give files
 * those owners or delete what they own. The helper is installed once at
 * start (lib/engine/rootless.ts); the modules that meet such files (tree
 * removal, layer extraction) ask for it here, below them all.
 * @module
 */

/** One file whose owner a layer names: its path in the layer and its container ids. */
export interface OwnedEntry {
  /** The path relative to the layer's root. */
  readonly path: string;
  readonly uid: number;
  readonly gid: number;
  /**
   * The mode to set again after the chown, which clears the setuid and
   * setgid bits of a regular file; only for files that have them.
   */
  readonly mode?: number;
}

/** The operations a helper with privileges over the user's ids performs. */
export interface PrivilegedHelper {
  /** Deletes a directory tree that holds files of ids this process does not own. */
  removeTree(dir: string): void;
  /**
   * Gives the files below `root` their owners (ids as the container sees
   * them); returns warnings (ids outside the user's range keep the user's).
   */
  chown(root: string, entries: readonly OwnedEntry[]): string[];
}

let installed: PrivilegedHelper | undefined;

/** Installs the helper of this process (undefined: none; root needs none). */
export function setPrivilegedHelper(h: PrivilegedHelper | undefined): void {
  installed = h;
}

/** The helper of this process, when it runs without privileges and has one. */
export function privilegedHelper(): PrivilegedHelper | undefined {
  return installed;
}
