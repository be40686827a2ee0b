/**
 * mknodat(2), for the callers that make device nodes and fifos: layer
 * extraction (a tar's entries) and the OCI runtime (its exec fifo).
 * @module
 */

import { AT, S_IF } from "../../ffi/constants.ts";
import { addressOf, cString, makedev, sys } from "../../ffi/sys.ts";

/** mknodat(2): a character or block device or a fifo. */
export function mknod(
  path: string,
  type: "char" | "block" | "fifo",
  mode: number,
  major = 0,
  minor = 0,
): void {
  const kind = type === "char" ? S_IF.CHR : type === "block" ? S_IF.BLK : S_IF.FIFO;
  sys(
    "mknodat",
    path,
    AT.FDCWD,
    addressOf(cString(path)),
    kind | (mode & 0o7777),
    makedev(major, minor),
  );
}
