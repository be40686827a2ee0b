/**
 * mknodat(2), for the callers that make device nodes and fifos: layer
 * extraction (a tar's entries) and the OCI runtime (its exec fifo).
 * @module
 */

import { AT, S_IF } from "../../ffi/constants.ts";
import { addressOf, cString, makedev, sys } from "../../ffi/sys.ts";

/** The kinds of node mknod makes. */
export type NodeType = "char" | "block" | "fifo";

/** mknodat(2): a character or block device or a fifo at `path`. */
export function mknod(path: string, type: NodeType, mode: number, major = 0, minor = 0): void {
  mknodAt(AT.FDCWD, path, { type, mode, major, minor });
}

/** mknodat(2) relative to a directory fd (a name below it, or an absolute path). */
export function mknodAt(
  dirFd: number,
  path: string,
  o: { type: NodeType; mode: number; major?: number; minor?: number },
): void {
  const kind = o.type === "char" ? S_IF.CHR : o.type === "block" ? S_IF.BLK : S_IF.FIFO;
  sys(
    "mknodat",
    path,
    dirFd,
    addressOf(cString(path)),
    kind | (o.mode & 0o7777),
    makedev(o.major ?? 0, o.minor ?? 0),
  );
}
