/**
 * The container's pty seen from ctr: open the master of the container's own
 * devpts instance, put the user's terminal in raw mode, relay bytes both
 * ways, keep the window size in sync, and restore the terminal at the end.
 * @module
 */

import { O, TIOC } from "../../ffi/constants.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { close, ioctl, open, readAsync, writeAll } from "../../ffi/sys.ts";

/**
 * Opens a new pty master in the devpts of the container whose init is `pid`,
 * and gives the slave to the container's user (host ids `uid`, `gid`): the
 * container opens it as a user of its own namespace, which needs an owner
 * that is mapped there. Returns the master and the slave's number.
 */
export function openPty(pid: number, uid: number, gid: number): { master: number; num: number } {
  const master = open(`/proc/${pid}/root/dev/pts/ptmx`, O.RDWR | O.NOCTTY);
  try {
    ioctl(master, TIOC.SPTLCK, new Uint8Array(4), "pty master (unlockpt)");
    const n = new Uint8Array(4);
    ioctl(master, TIOC.GPTN, n, "pty master (ptsname)");
    const num = new DataView(n.buffer).getUint32(0, true);
    try {
      Deno.chownSync(`/proc/${pid}/root/dev/pts/${num}`, uid, gid);
    } catch (e) {
      // A rootless ctr may give files only to itself: the slave stays the container root's,
      // with the tty group devpts gives it, and the process opens it before it changes user.
      if (!(e instanceof Deno.errors.PermissionDenied && Deno.uid() !== 0)) throw e;
    }
    syncWindowSize(master);
    return { master, num };
  } catch (e) {
    close(master);
    throw e;
  }
}

/** The first pty of a new container: its plan opens /dev/pts/0, so that is the one it must be. */
export function openContainerPty(pid: number, uid: number, gid: number): number {
  const { master, num } = openPty(pid, uid, gid);
  if (num !== 0) {
    close(master);
    throw new Error(`The container's first pty is /dev/pts/${num}, expected /dev/pts/0`);
  }
  return master;
}

/** Copies the user's terminal size onto the pty. */
export function syncWindowSize(master: number): void {
  let size: { columns: number; rows: number };
  try {
    size = Deno.consoleSize();
  } catch {
    return; // not a terminal: keep the kernel's default
  }
  setWindowSize(master, size);
}

/** TIOCSWINSZ: the pty's size in rows and columns (struct winsize, pixels left 0). */
export function setWindowSize(master: number, size: { rows: number; columns: number }): void {
  const ws = new Uint8Array(8);
  const v = new DataView(ws.buffer);
  v.setUint16(0, size.rows, true);
  v.setUint16(2, size.columns, true);
  ioctl(master, TIOC.SWINSZ, ws, "pty master (window size)");
}

/** A running relay between the user's terminal and a pty master. */
export interface PtyRelay {
  /** Resolves when the container side has closed (EIO on the master). */
  readonly output: Promise<void>;
  /** Restores the terminal and stops listening. */
  stop(): void;
}

/** Starts relaying stdin → master (when `stdin`) and master → stdout. */
export function relayPty(master: number, stdin: boolean): PtyRelay {
  const raw = stdin && Deno.stdin.isTerminal();
  if (raw) Deno.stdin.setRaw(true);
  const onWinch = () => {
    try {
      syncWindowSize(master);
    } catch { /* the pty is gone */ }
  };
  Deno.addSignalListener("SIGWINCH", onWinch);
  let stopped = false;
  const output = (async () => {
    const buf = new Uint8Array(65536);
    for (;;) {
      let n: number;
      try {
        n = await readAsync(master, buf, "pty master");
      } catch (e) {
        if (e instanceof SyscallError && e.code === "EIO") return; // every slave fd closed
        throw e;
      }
      if (n === 0) return;
      await writeStdout(buf.subarray(0, n));
    }
  })();
  if (stdin) {
    (async () => {
      const buf = new Uint8Array(65536);
      while (!stopped) {
        const n = await Deno.stdin.read(buf);
        if (n === null || stopped) break;
        try {
          writeAll(master, buf.subarray(0, n), "pty master");
        } catch {
          break;
        }
      }
    })();
  }
  return {
    output,
    stop() {
      stopped = true;
      Deno.removeSignalListener("SIGWINCH", onWinch);
      if (raw) {
        try {
          Deno.stdin.setRaw(false);
        } catch { /* terminal gone */ }
      }
    },
  };
}

async function writeStdout(b: Uint8Array): Promise<void> {
  let off = 0;
  while (off < b.length) off += await Deno.stdout.write(b.subarray(off));
}
