/**
 * Paths inside a container's root, resolved from the host without ever leaving
 * the root: symlinks are followed as the container would see them (absolute
 * targets restart at the container's root, `..` stops at it), over a stack of
 * layer directories (top first, as overlayfs stacks them).
 * @module
 */

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
    let st: Deno.FileInfo;
    try {
      st = Deno.lstatSync(hostPath);
    } catch {
      continue;
    }
    // An overlay whiteout (char device 0/0) hides the lower layers' entry.
    if (st.isCharDevice && st.rdev === 0) return undefined;
    const kind = st.isFile ? "file" : st.isDirectory ? "dir" : st.isSymlink ? "symlink" : "other";
    return { hostPath, kind };
  }
  return undefined;
}

function split(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

/**
 * Resolves `path` inside the root made of `layers`, following symlinks the way
 * the container would. The result is absolute, free of symlinks and `..`, and
 * never above the root. Missing components are kept as they are.
 */
export function resolveInRoot(layers: readonly string[], path: string): string {
  let todo = split(path);
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (c === "..") {
      done.pop();
      continue;
    }
    const candidate = "/" + [...done, c].join("/");
    const found = lookup(layers, candidate);
    if (found?.kind === "symlink") {
      if (++links > MAX_LINKS) throw new Error(`Too many symlinks resolving ${path} in the root`);
      const target = Deno.readLinkSync(found.hostPath);
      if (target.startsWith("/")) done.length = 0;
      todo = [...split(target), ...todo];
      continue;
    }
    done.push(c);
  }
  return "/" + done.join("/");
}
