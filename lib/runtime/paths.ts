/**
 * Paths inside a container's root, resolved from the host without ever leaving
 * the root: symlinks are followed as the container would see them (absolute
 * targets restart at the container's root, `..` stops at it), over a stack of
 * layer directories (top first, as overlayfs stacks them).
 * @module
 */

import { S_IF } from "../../ffi/constants.ts";
import { fileType } from "../../ffi/sys.ts";

const MAX_LINKS = 255;

/** What is at a path across the layers. */
export interface Found {
  /** The host path of the entry in the topmost layer that has it. */
  readonly hostPath: string;
  /** Its type. */
  readonly kind: "file" | "dir" | "symlink" | "other";
}

/** Looks a container path (already symlink-free) up in the layers, top first. */
export function lookup(layers: readonly string[], path: string): Found | undefined {
  for (const layer of layers) {
    const hostPath = layer + path;
    // Most tries miss (an upper layer, the top layers of an image): no exception for those.
    const st = fileType(hostPath, false);
    if (!st) continue;
    // An overlay whiteout (char device 0/0) hides the lower layers' entry.
    if (st.type === S_IF.CHR && st.rdevMajor === 0 && st.rdevMinor === 0) return undefined;
    return { hostPath, kind: KINDS[st.type] ?? "other" };
  }
  return undefined;
}

const KINDS: Readonly<Record<number, Found["kind"]>> = {
  [S_IF.REG]: "file",
  [S_IF.DIR]: "dir",
  [S_IF.LNK]: "symlink",
};

function split(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

/**
 * Resolves symlinks in `path` as a process whose root is the container's
 * would: `linkAt(p)` gives the target of the symlink at the symlink-free
 * container path `p`, or undefined when it is no symlink. Absolute targets
 * restart at the root, `..` stops at it; the last component is followed
 * only with `followLast`. Missing components are kept. Returns an absolute,
 * clean path.
 */
export function walkSymlinks(
  path: string,
  linkAt: (p: string) => string | undefined,
  followLast = true,
): string {
  let todo = split(path);
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (c === "..") {
      done.pop();
      continue;
    }
    const target = todo.length > 0 || followLast ? linkAt("/" + [...done, c].join("/")) : undefined;
    if (target !== undefined) {
      if (++links > MAX_LINKS) throw new Error(`Too many symlinks resolving ${path} in the root`);
      if (target.startsWith("/")) done.length = 0;
      todo = [...split(target), ...todo];
      continue;
    }
    done.push(c);
  }
  return "/" + done.join("/");
}

/**
 * Resolves `path` inside the root made of `layers`, following symlinks the way
 * the container would. The result is absolute, free of symlinks and `..`, and
 * never above the root. Missing components are kept as they are.
 */
export function resolveInRoot(layers: readonly string[], path: string): string {
  return walkSymlinks(path, (p) => {
    const found = lookup(layers, p);
    return found?.kind === "symlink" ? Deno.readLinkSync(found.hostPath) : undefined;
  });
}
