/**
 * The detached-container watcher (ffi/watch/watch.c, bytes in watch_code.ts):
 * a static executable of a few KB that the process which created a detached
 * container becomes, by execveat() of a memfd. It inherits the parentage of
 * the container, so it can reap it; it copies the container's output into a
 * json-file log and records the exit status, then may exec a follow-up step.
 *
 *   ctr-watch PID STDOUT_FD STDERR_FD LOG_PATH MAX_SIZE MAX_FILES EXIT_PATH [-- CMD ARG...]
 *
 * See watch.c for the full contract.
 * @module
 */

import { AT } from "./constants.ts";
import { addressOf, close, cString, sys, writeAll } from "./sys.ts";
import { elfFor } from "./static_elf.ts";
import { WATCH_ELF_B64 } from "./watch_code.ts";

/** memfd_create(2) flag (linux/memfd.h). */
const MFD_CLOEXEC = 1;
/** fcntl(2) command: set the fd flags (FD_CLOEXEC is the only one). */
const F_SETFD = 2;

/** The watcher executable for `arch` (default: this host). */
export function watcherElf(arch: string = Deno.build.arch): Uint8Array {
  return elfFor(WATCH_ELF_B64, arch, "detached-container watcher");
}

/**
 * A memfd holding the watcher for this host, ready for execWatcher(). It is
 * close-on-exec: execveat(AT_EMPTY_PATH) runs an ELF from such an fd all the
 * same (only a script would need it open after the exec, to be read by its
 * interpreter), and the watcher then does not carry it.
 */
export function openWatcher(): number {
  const elf = watcherElf();
  const fd = sys("memfd_create", "ctr-watch", addressOf(cString("ctr-watch")), MFD_CLOEXEC);
  try {
    writeAll(fd, elf, "memfd ctr-watch");
  } catch (e) {
    close(fd);
    throw e;
  }
  return fd;
}

/**
 * Clears FD_CLOEXEC on `fd`, so that it survives execWatcher(): the fds the
 * watcher reads the container's output from must be handed over this way.
 */
export function keepAcrossExec(fd: number): void {
  sys("fcntl", `fd ${fd}`, fd, F_SETFD, 0);
}

/** The argv/envp buffers of an execveat in progress: referenced until the process is replaced. */
const pinned = new Set<unknown>();

/** A NULL-terminated C array of pointers to copies of `strings`; `keep` holds the copies. */
function cArray(strings: readonly string[], keep: Uint8Array[]): BigUint64Array {
  const ptrs = new BigUint64Array(strings.length + 1);
  strings.forEach((s, i) => {
    const c = cString(s);
    keep.push(c);
    ptrs[i] = addressOf(c);
  });
  return ptrs;
}

/**
 * Replaces this process with the watcher in `memfd` (from openWatcher()).
 * argv[0] should be "ctr-watch"; see the module comment for the rest. Only
 * fds without FD_CLOEXEC are inherited: clear it with keepAcrossExec() on the
 * container's output fds first. Returns only by throwing the execveat error.
 */
export function execWatcher(
  memfd: number,
  argv: readonly string[],
  env: Record<string, string>,
): never {
  const keep: Uint8Array[] = [];
  const argvC = cArray(argv, keep);
  const envC = cArray(Object.entries(env).map(([k, v]) => `${k}=${v}`), keep);
  const empty = cString("");
  pinned.add(keep).add(argvC).add(envC).add(empty);
  try {
    sys(
      "execveat",
      "ctr-watch",
      memfd,
      addressOf(empty),
      addressOf(new Uint8Array(argvC.buffer)),
      addressOf(new Uint8Array(envC.buffer)),
      AT.EMPTY_PATH,
    );
  } finally {
    pinned.clear();
  }
  throw new Error("execveat ctr-watch returned without replacing the process");
}
