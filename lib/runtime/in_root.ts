/**
 * Files of a container reached from the host without ever leaving its root:
 * the root is a directory fd (a running container's `/proc/PID/root`, or a
 * stopped one's upper directory), paths are looked up with openat2(2) so
 * that `..` and absolute symlinks stop at the root (RESOLVE_IN_ROOT), and
 * below a directory that was opened so, every step is one name with no
 * symlink followed (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, O_NOFOLLOW).
 *
 * A container may swap a directory for a symlink at any moment; each call
 * here either works on the object it found or fails (ELOOP, ENOTDIR): it
 * never reaches a host file through the container's symlinks. Entries are
 * read and changed through their own fds (fchmod, fchown, futimens), or by
 * one name under an opened directory where the call does not follow the
 * name (mkdirat, symlinkat, unlinkat, linkat, fchownat and utimensat with
 * AT_SYMLINK_NOFOLLOW, lstat and readlink of `/proc/self/fd/DIR/NAME`).
 * @module
 */

import { AT, O, RESOLVE } from "../../ffi/constants.ts";
import { addressOf, close, cString, openat2, readSync, sys, writeAll } from "../../ffi/sys.ts";

/** Lookups that stay in the root: `/` and `..` stop at it, no magic links. */
const IN_ROOT = RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS;
/** One name below an opened directory: no symlink at all, nothing above it. */
const BENEATH = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS;

/** The path through which an fd (and a name below it) is reached by Deno's calls. */
export function fdPath(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/** Opens a root directory (O_PATH): the base of every lookup in it. */
export function openRoot(path: string): number {
  return openat2(AT.FDCWD, path, O.PATH | O.DIRECTORY, 0);
}

/**
 * Opens `path` inside the root `rootFd`, following symlinks as the
 * container would (an absolute target starts again at the root); with
 * `noFollowLast`, a symlink at the end is opened itself (with O_PATH).
 */
export function openInRoot(
  rootFd: number,
  path: string,
  flags: number,
  noFollowLast = false,
): number {
  const rel = path.replace(/^\/+/, "") || ".";
  return openat2(rootFd, rel, flags | (noFollowLast ? O.NOFOLLOW : 0), IN_ROOT);
}

/** Opens the entry `name` of a directory fd; a symlink there fails (ELOOP). */
export function openChild(dirFd: number, name: string, flags: number, mode = 0): number {
  return openat2(dirFd, name, flags | O.NOFOLLOW, BENEATH, mode);
}

/** lstat of one name below a directory fd (the name is never followed); undefined when missing. */
export function lstatChild(dirFd: number, name: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(fdPath(dirFd, name));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** stat of what an fd is open on (for an O_PATH fd of a symlink, the symlink). */
export function statFd(fd: number): Deno.FileInfo {
  return Deno.statSync(fdPath(fd));
}

/** The names in an open directory. */
export function listFd(dirFd: number): string[] {
  return [...Deno.readDirSync(fdPath(dirFd))].map((e) => e.name);
}

/** The target of the symlink `name` below a directory fd. */
export function readLinkChild(dirFd: number, name: string): string {
  return Deno.readLinkSync(fdPath(dirFd, name));
}

/** mkdirat(2). */
export function mkdirChild(dirFd: number, name: string, mode: number): void {
  sys("mkdirat", name, dirFd, addressOf(cString(name)), mode & 0o7777);
}

/** unlinkat(2): a file, or an empty directory with `dir`. */
export function unlinkChild(dirFd: number, name: string, dir = false): void {
  sys("unlinkat", name, dirFd, addressOf(cString(name)), dir ? AT.REMOVEDIR : 0);
}

/** symlinkat(2). */
export function symlinkChild(target: string, dirFd: number, name: string): void {
  sys("symlinkat", name, addressOf(cString(target)), dirFd, addressOf(cString(name)));
}

/** linkat(2) without following: a hard link `newName` to `oldName`. */
export function linkChild(
  oldDirFd: number,
  oldName: string,
  newDirFd: number,
  newName: string,
): void {
  sys(
    "linkat",
    newName,
    oldDirFd,
    addressOf(cString(oldName)),
    newDirFd,
    addressOf(cString(newName)),
    0,
  );
}

/** fchown(2). */
export function chownFd(fd: number, uid: number, gid: number): void {
  sys("fchown", `fd ${fd}`, fd, uid, gid);
}

/** fchmod(2). */
export function chmodFd(fd: number, mode: number): void {
  sys("fchmod", `fd ${fd}`, fd, mode & 0o7777);
}

/** fchownat(2) with AT_SYMLINK_NOFOLLOW: a symlink itself. */
export function lchownChild(dirFd: number, name: string, uid: number, gid: number): void {
  sys("fchownat", name, dirFd, addressOf(cString(name)), uid, gid, AT.SYMLINK_NOFOLLOW);
}

function times(mtimeSec: number): Uint8Array {
  const ts = new BigInt64Array([BigInt(mtimeSec), 0n, BigInt(mtimeSec), 0n]);
  return new Uint8Array(ts.buffer);
}

/** Sets access and modification time of what an fd is open on (futimens). */
export function utimesFd(fd: number, mtimeSec: number): void {
  sys("utimensat", `fd ${fd}`, fd, 0, addressOf(times(mtimeSec)), 0);
}

/** utimensat(2) of one name with AT_SYMLINK_NOFOLLOW (a symlink's own times). */
export function lutimesChild(dirFd: number, name: string, mtimeSec: number): void {
  sys(
    "utimensat",
    name,
    dirFd,
    addressOf(cString(name)),
    addressOf(times(mtimeSec)),
    AT.SYMLINK_NOFOLLOW,
  );
}

/** fsetxattr(2). */
export function setXattrFd(fd: number, name: string, value: Uint8Array): void {
  const buf = value.length > 0 ? value : new Uint8Array(1);
  sys("fsetxattr", name, fd, addressOf(cString(name)), addressOf(buf), value.length, 0);
}

/** Writes the whole buffer to an fd. */
export function writeFd(fd: number, data: Uint8Array): void {
  writeAll(fd, data);
}

/** Reads into `buf`; 0 at the end. */
export function readFd(fd: number, buf: Uint8Array): number {
  return readSync(fd, buf);
}

/** Closes an fd. */
export function closeFd(fd: number): void {
  close(fd);
}

export { O };
