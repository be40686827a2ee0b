/**
 * The file system calls layer extraction needs that Deno's API lacks or makes
 * follow symlinks: mknod, lchown, utimensat without following, and extended
 * attributes. Each throws SyscallError naming the call and the path.
 * @module
 */

import { AT } from "../../ffi/constants.ts";
import { addressOf, cString, makedev, sys, sysRaw } from "../../ffi/sys.ts";
import { SyscallError } from "../../ffi/errno.ts";

export { makedev };
export { mknod } from "../os/mknod.ts";

/** fchownat(2) with AT_SYMLINK_NOFOLLOW: changes a symlink itself, never its target. */
export function lchown(path: string, uid: number, gid: number): void {
  sys("fchownat", path, AT.FDCWD, addressOf(cString(path)), uid, gid, AT.SYMLINK_NOFOLLOW);
}

/** utimensat(2) with AT_SYMLINK_NOFOLLOW: sets access and modification times (ns since the epoch). */
export function lutimes(path: string, atimeNs: bigint, mtimeNs: bigint): void {
  const ts = new BigInt64Array([
    atimeNs / 1_000_000_000n,
    atimeNs % 1_000_000_000n,
    mtimeNs / 1_000_000_000n,
    mtimeNs % 1_000_000_000n,
  ]);
  sys(
    "utimensat",
    path,
    AT.FDCWD,
    addressOf(cString(path)),
    addressOf(new Uint8Array(ts.buffer)),
    AT.SYMLINK_NOFOLLOW,
  );
}

/** lsetxattr(2): sets an extended attribute of a path (a symlink itself, not its target). */
export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  // A zero-length value still needs a valid address.
  const buf = value.length > 0 ? value : new Uint8Array(1);
  sys(
    "lsetxattr",
    `${path} (${name})`,
    addressOf(cString(path)),
    addressOf(cString(name)),
    addressOf(buf),
    value.length,
    0,
  );
}

const ENODATA = 61;
const ERANGE = 34;

/** lgetxattr(2): an extended attribute's value, or undefined when the path has none by that name. */
export function lgetxattr(path: string, name: string): Uint8Array | undefined {
  let size = 256;
  for (;;) {
    const buf = new Uint8Array(size);
    const r = sysRaw(
      "lgetxattr",
      addressOf(cString(path)),
      addressOf(cString(name)),
      addressOf(buf),
      size,
    );
    if (r >= 0) return buf.slice(0, r);
    if (r === -ENODATA) return undefined;
    if (r === -ERANGE && size < 65536) {
      size *= 4;
      continue;
    }
    throw new SyscallError("lgetxattr", -r, `${path} (${name})`);
  }
}

/** llistxattr(2): the names of a path's extended attributes (a symlink's own, not its target's). */
export function llistxattr(path: string): string[] {
  let size = 1024;
  for (;;) {
    const buf = new Uint8Array(size);
    const r = sysRaw("llistxattr", addressOf(cString(path)), addressOf(buf), size);
    if (r >= 0) {
      return new TextDecoder().decode(buf.subarray(0, r)).split("\0").filter((n) => n !== "");
    }
    if (r === -ERANGE && size < 1 << 20) {
      size *= 4;
      continue;
    }
    throw new SyscallError("llistxattr", -r, path);
  }
}
