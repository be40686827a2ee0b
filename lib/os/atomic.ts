/**
 * Files replaced whole: written under a temporary name that carries the
 * writer's pid, then renamed over the old one, so a reader sees the old text
 * or the new, never half. A writer killed between the two steps leaves its
 * temporary file behind; the pid in its name says whose it was, and
 * sweepTemp() removes those of writers that are gone.
 * @module
 */

import { AT, O } from "../../ffi/constants.ts";
import { errno, SyscallError } from "../../ffi/errno.ts";
import { addressOf, close, cString, exists, open, sys, sysRaw, writeAll } from "../../ffi/sys.ts";
import { processStartTime } from "./proc.ts";

/** open(2)'s O_TMPFILE (with O_DIRECTORY, as the kernel wants it), the same on x86_64 and aarch64. */
const O_TMPFILE = 0o20000000 | O.DIRECTORY;
/** linkat(2): follow the /proc/self/fd link to the open file itself. */
const AT_SYMLINK_FOLLOW = 0x400;

/** `NAME.PID.RANDOM.tmp`: the temporary files written by writeAtomic. */
const TEMP = /^(.+)\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/** renameat2(2)'s flag that swaps two names (both must exist). */
const RENAME_EXCHANGE = 2;

/**
 * Writes `text` to `path` atomically (temporary name, rename). `volatile`:
 * the file describes this boot only (a container's record), so nothing of it
 * need reach the disk before it replaces the old one: the new file and the
 * old swap names and the old is unlinked, where ext4 would start writing the
 * new file's data back at a rename over an existing file (auto_da_alloc, a
 * few hundred microseconds a write). A writer killed between the two leaves
 * the old file under its temporary name, as one killed before the rename
 * leaves the new one.
 */
export function writeAtomic(
  path: string,
  text: string,
  opts: { mode?: number; volatile?: boolean } = {},
): void {
  // A name of its own per writer: two writers never rename each other's file.
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    Deno.writeTextFileSync(tmp, text, { mode: opts.mode ?? 0o600 });
    if (opts.volatile && exchange(tmp, path)) {
      Deno.removeSync(tmp); // the old file now
      return;
    }
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not made */ }
    throw e;
  }
}

/**
 * Swaps the names `a` and `b`; false when that cannot be done (`b` does not
 * exist, or the filesystem cannot swap names): then a rename will do.
 */
function exchange(a: string, b: string): boolean {
  const r = sysRaw(
    "renameat2",
    AT.FDCWD,
    addressOf(cString(a)),
    AT.FDCWD,
    addressOf(cString(b)),
    RENAME_EXCHANGE,
  );
  if (r >= 0) return true;
  if (["ENOENT", "EINVAL", "ENOSYS", "EOPNOTSUPP"].some((n) => -r === errno(n))) return false;
  throw new SyscallError("renameat2", -r, `${a} and ${b}`);
}

/**
 * Creates `path` with `text`, whole or not at all, where no file of that
 * name may exist yet (EEXIST otherwise): an unnamed file (O_TMPFILE) is
 * written and then linked into place, so a writer killed at any moment
 * leaves nothing, not even a temporary file. On a filesystem without
 * unnamed files, a temporary name and a rename, as writeAtomic.
 */
export function createAtomic(path: string, text: string, opts: { mode?: number } = {}): void {
  const mode = opts.mode ?? 0o600;
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  let fd: number;
  try {
    fd = open(dir, O_TMPFILE | O.WRONLY, mode);
  } catch (e) {
    // EOPNOTSUPP (or EISDIR from a kernel that predates O_TMPFILE): no unnamed files here.
    if (!(e instanceof SyscallError && ["EOPNOTSUPP", "EISDIR"].includes(e.code))) throw e;
    // As linkat would say; the rename below would replace the file.
    if (exists(path)) throw new SyscallError("linkat", errno("EEXIST"), path);
    return writeAtomic(path, text, opts);
  }
  try {
    writeAll(fd, new TextEncoder().encode(text), path);
    // /proc/self/fd/N with AT_SYMLINK_FOLLOW: linking by AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH.
    const link = `/proc/self/fd/${fd}`;
    sys(
      "linkat",
      path,
      AT.FDCWD,
      addressOf(cString(link)),
      AT.FDCWD,
      addressOf(cString(path)),
      AT_SYMLINK_FOLLOW,
    );
  } finally {
    close(fd);
  }
}

/**
 * Removes the temporary files in `dir` whose writer is no longer running
 * (killed between write and rename); returns their paths. A live writer's
 * file is left alone: it is about to be renamed. `prefix`: only the
 * temporary files of names that start with it (one container's records).
 */
export function sweepTemp(dir: string, prefix = ""): string[] {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return removed;
  }
  for (const e of entries) {
    const m = e.isFile && e.name.startsWith(prefix) ? TEMP.exec(e.name) : null;
    if (!m || processStartTime(Number(m[2])) !== undefined) continue;
    try {
      Deno.removeSync(`${dir}/${e.name}`);
      removed.push(`${dir}/${e.name}`);
    } catch { /* removed meanwhile */ }
  }
  return removed;
}
