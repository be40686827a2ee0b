/**
 * flock(2) locks on files and directories. A lock belongs to an open file
 * description: it ends when its fd is closed, and so when the process dies,
 * however it dies; nothing is left to clean up.
 * @module
 */

import { O } from "../../ffi/constants.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { close, open, sys, sysAsync, sysRaw } from "../../ffi/sys.ts";

/** sys/file.h: flock(2) operations. */
export const LOCK = { SH: 1, EX: 2, NB: 4, UN: 8 } as const;

const EWOULDBLOCK = 11;

/** How a lock is held. */
export type LockMode = "shared" | "exclusive";

function openFor(path: string, dir: boolean): number {
  return dir ? open(path, O.RDONLY | O.DIRECTORY) : open(path, O.RDWR | O.CREAT, 0o600);
}

/** A held flock(2) lock. */
export class FileLock {
  #fd: number;
  /** The locked path. */
  readonly path: string;

  private constructor(fd: number, path: string) {
    this.#fd = fd;
    this.path = path;
  }

  /**
   * Waits for the lock (on a worker thread when another holds it: the event
   * loop keeps running).
   * A missing lock file is created; `dir` locks an existing directory instead.
   */
  static async acquire(path: string, mode: LockMode, dir = false): Promise<FileLock> {
    return await FileLock.#wait(openFor(path, dir), path, mode === "shared" ? LOCK.SH : LOCK.EX);
  }

  /** flock(2) `op` on `fd` (closed if that fails): a lock on `path`. */
  static async #wait(fd: number, path: string, op: number): Promise<FileLock> {
    try {
      // Uncontended (the usual case), taken on this thread without a worker's round trip.
      if (sysRaw("flock", fd, op | LOCK.NB) !== 0) await sysAsync("flock", path, fd, op);
    } catch (e) {
      close(fd);
      throw e;
    }
    return new FileLock(fd, path);
  }

  /**
   * Waits for an exclusive lock on a file only if it exists (undefined when
   * it does not): for a lock on a record that must not be made by taking it.
   */
  static async acquireExisting(path: string): Promise<FileLock | undefined> {
    let fd: number;
    try {
      fd = open(path, O.RDONLY);
    } catch (e) {
      if (e instanceof SyscallError && e.code === "ENOENT") return undefined;
      throw e;
    }
    return await FileLock.#wait(fd, path, LOCK.EX);
  }

  /** Takes the lock if no one holds it in a conflicting way; else undefined. */
  static try(path: string, mode: LockMode, dir = false): FileLock | undefined {
    const fd = openFor(path, dir);
    const r = sysRaw("flock", fd, (mode === "shared" ? LOCK.SH : LOCK.EX) | LOCK.NB);
    if (r === 0) return new FileLock(fd, path);
    close(fd);
    if (r === -EWOULDBLOCK) return undefined;
    throw new SyscallError("flock", -r, path);
  }

  /** Whether the lock is still held. */
  get held(): boolean {
    return this.#fd >= 0;
  }

  /**
   * Releases the lock, then closes its fd; a second call does nothing. The
   * unlock comes first because a child forked meanwhile (a container's
   * process between fork and exec) shares the open file description, and
   * with it the lock, until it execs: a close alone would leave the lock
   * held by the child, and every other waiter in this process behind it.
   */
  release(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    try {
      sys("flock", this.path, fd, LOCK.UN);
    } finally {
      sys("close", this.path, fd);
    }
  }
}

/** Runs `fn` while holding a lock on `path`. */
export async function withLock<T>(
  path: string,
  mode: LockMode,
  fn: () => Promise<T> | T,
): Promise<T> {
  const lock = await FileLock.acquire(path, mode);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
