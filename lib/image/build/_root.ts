/**
 * A root file system seen through a stack of layer directories (top first),
 * as overlayfs shows it: the topmost entry of a path wins, a whiteout (a 0/0
 * character device) hides it, an opaque directory (trusted.overlay.opaque or
 * user.overlay.opaque = y) hides what lower layers have below it, and a
 * non-directory hides lower layers' trees under its name. A plain directory
 * (a build context) is a stack of one. Symlinks resolve inside the root,
 * never above it. Reads only.
 * @module
 */

import { lgetxattr, llistxattr } from "../_fs.ts";
import { OPAQUE_USER_XATTR, OPAQUE_XATTR } from "../layer.ts";
import { walkSymlinks } from "../../runtime/paths.ts";

/** A path found in the root. */
export interface RootEntry {
  /** The path in the root: absolute, symlink-free up to its last component. */
  readonly path: string;
  /** Where the entry is on the host (in the topmost layer that has it). */
  readonly hostPath: string;
  /** lstat of hostPath. */
  readonly info: Deno.FileInfo;
}

/** A directory of the root and the layers that contribute to its listing (top first). */
interface DirNode {
  readonly path: string;
  readonly layers: readonly number[];
}

function lstat(p: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(p);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

/** Whether a host entry is an overlay whiteout. */
export function isWhiteout(info: Deno.FileInfo): boolean {
  return info.isCharDevice === true && info.rdev === 0;
}

/** Whether a host directory is marked opaque for overlayfs. */
export function isOpaque(hostPath: string): boolean {
  for (const x of [OPAQUE_XATTR, OPAQUE_USER_XATTR]) {
    try {
      const v = lgetxattr(hostPath, x);
      if (v && v.length === 1 && v[0] === 0x79) return true;
    } catch { /* no xattr support: not opaque */ }
  }
  return false;
}

const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;

/**
 * The extended attributes of a host path that belong to its content, by
 * name: all but overlayfs' own (opaque marks, origins, redirects), which
 * describe a layer, not a file. Empty where the file system has none.
 */
export function contentXattrs(path: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let names: string[];
  try {
    names = llistxattr(path);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    if (OVERLAY_XATTR.test(n)) continue;
    const v = lgetxattr(path, n);
    if (v !== undefined) out.set(n, v);
  }
  return out;
}

function join(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

function split(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

/** A read-only view of stacked layer directories. */
export class LayeredRoot {
  /** The layer directories, top first. */
  readonly layers: readonly string[];

  constructor(layers: readonly string[]) {
    this.layers = layers.map((l) => l.replace(/\/+$/, "") || "/");
  }

  #root(): DirNode {
    const layers: number[] = [];
    for (const [i, l] of this.layers.entries()) {
      layers.push(i);
      if (isOpaque(l)) break;
    }
    return { path: "/", layers };
  }

  /** The child `name` of a directory node: its entry, and its own node when it is a directory. */
  #child(dir: DirNode, name: string): { entry?: RootEntry; node?: DirNode } {
    const path = join(dir.path, name);
    let entry: RootEntry | undefined;
    const layers: number[] = [];
    for (const i of dir.layers) {
      const hostPath = this.layers[i] + path;
      const info = lstat(hostPath);
      if (!info) continue;
      if (isWhiteout(info)) break;
      if (!entry) entry = { path, hostPath, info };
      if (!info.isDirectory) break;
      if (!entry.info.isDirectory) break;
      layers.push(i);
      if (isOpaque(hostPath)) break;
    }
    return entry?.info.isDirectory
      ? { entry, node: { path, layers } }
      : { ...(entry && { entry }) };
  }

  /** The node of a symlink-free directory path, or undefined when it is no directory. */
  #dir(path: string): DirNode | undefined {
    let node: DirNode = this.#root();
    for (const c of split(path)) {
      const child = this.#child(node, c);
      if (!child.node) return undefined;
      node = child.node;
    }
    return node;
  }

  /** The entry at a symlink-free path (a symlink itself is not followed). */
  lstat(path: string): RootEntry | undefined {
    const parts = split(path);
    if (parts.length === 0) {
      const hostPath = this.layers[0];
      const info = lstat(hostPath);
      return info && { path: "/", hostPath, info };
    }
    const parent = this.#dir("/" + parts.slice(0, -1).join("/"));
    return parent && this.#child(parent, parts[parts.length - 1]).entry;
  }

  /** The names in a directory node, sorted: the merge of its layers, whiteouts hiding lower names. */
  #names(node: DirNode): string[] {
    const names = new Set<string>();
    const hidden = new Set<string>();
    for (const i of node.layers) {
      const dir = this.layers[i] + (node.path === "/" ? "" : node.path);
      const here: string[] = [];
      for (const e of Deno.readDirSync(dir)) {
        if (names.has(e.name) || hidden.has(e.name)) continue;
        const info = lstat(`${dir}/${e.name}`);
        if (!info) continue;
        if (isWhiteout(info)) hidden.add(e.name);
        else here.push(e.name);
      }
      for (const n of here) names.add(n);
    }
    return [...names].sort();
  }

  /** The names in a symlink-free directory path, sorted; undefined when it is no directory. */
  list(path: string): string[] | undefined {
    const node = this.#dir(path);
    return node && this.#names(node);
  }

  /**
   * The entries of a symlink-free directory path, sorted by name (one
   * merge of the layers for the whole directory); undefined when it is no
   * directory.
   */
  children(path: string): RootEntry[] | undefined {
    const node = this.#dir(path);
    if (!node) return undefined;
    return this.#names(node).map((n) => this.#child(node, n).entry).filter((e) => e !== undefined);
  }

  /**
   * Resolves symlinks in `path` as the container would, never above the
   * root; the last component is followed only with `followLast`. Missing
   * components are kept. Returns an absolute, clean path.
   */
  resolve(path: string, followLast = true): string {
    return walkSymlinks(path, (p) => {
      const e = this.lstat(p);
      return e?.info.isSymlink ? Deno.readLinkSync(e.hostPath) : undefined;
    }, followLast);
  }

  /** The entry at `path` after resolving symlinks (the last one too, unless `followLast` is false). */
  stat(path: string, followLast = true): RootEntry | undefined {
    return this.lstat(this.resolve(path, followLast));
  }

  /** A file's content, read through the root (symlinks followed inside it). */
  readFile(path: string): Uint8Array | undefined {
    const e = this.stat(path);
    if (!e || !e.info.isFile) return undefined;
    return Deno.readFileSync(e.hostPath);
  }
}
