/**
 * `docker cp` between a container and the host (or a tar stream), with
 * docker's rules for what goes where, and the container's root as a jail:
 *
 * - a running container is reached through `/proc/PID/root` (so its volumes
 *   and tmpfs mounts are seen as it sees them) with openat2(RESOLVE_IN_ROOT):
 *   its symlinks resolve inside it, and nothing below the copied directory is
 *   followed (lib/runtime/in_root.ts);
 * - a stopped one is its upper directory over its image's layers: read as
 *   overlayfs would show them, written into the upper directory, the
 *   directories on the way copied up from the layers as overlayfs does.
 *
 * A copy is a source that hands entries (paths relative to the copied item)
 * to a sink; sources: the host, a container, a tar stream; sinks: the host,
 * a container, a tar stream. Ownership follows docker: into a container,
 * files belong to its root user unless `archive` keeps the source's ids (both
 * mapped through its user namespace); onto the host, to the caller.
 * @module
 */

import type { ContainerState } from "./state.ts";
import type { IdMap } from "../config/container.ts";
import { isRunning } from "./lifecycle.ts";
import { containerRoot, fileChunks } from "./snapshot.ts";
import {
  chmodFd,
  chownFd,
  closeFd,
  lchownChild,
  linkChild,
  listFd,
  lstatChild,
  lutimesChild,
  mkdirChild,
  O,
  openChild,
  openInRoot,
  openRoot,
  readFd,
  readLinkChild,
  setXattrFd,
  statFd,
  symlinkChild,
  unlinkChild,
  utimesFd,
  writeFd,
} from "../runtime/in_root.ts";
import {
  encodeHeader,
  isWhiteout,
  type LayeredRoot,
  padding,
  TAR_END,
} from "../image/build/mod.ts";
import { entryPath, readTar } from "../image/layer.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { walkSymlinks } from "../runtime/paths.ts";
import { mknodAt } from "../os/mknod.ts";

/** One thing to copy: `path` is relative to the copied item ("" for the item itself). */
export interface CopyEntry {
  readonly path: string;
  readonly type: "file" | "dir" | "symlink" | "link" | "char" | "block" | "fifo";
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  readonly size: number;
  /** A symlink's target, or a hard link's first name (relative to the copy). */
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** A file's content. */
  readonly data?: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

/** Receives the entries of a copy, parents before children. */
export interface Sink {
  put(e: CopyEntry): Promise<void>;
  /** Called once every entry is in (directories get their times last). */
  finish(): Promise<void>;
}

/** Hands a copy's entries to a sink. */
export type Source = (sink: Sink) => Promise<void>;

/** A missing path, as docker words it for a container (`No such container:path`). */
export class NoSuchPathError extends Error {
  constructor(what: string) {
    super(what);
    this.name = "NoSuchPathError";
  }
}

function typeOf(info: Deno.FileInfo): CopyEntry["type"] | undefined {
  if (info.isDirectory) return "dir";
  if (info.isFile) return "file";
  if (info.isSymlink) return "symlink";
  if (info.isCharDevice) return "char";
  if (info.isBlockDevice) return "block";
  if (info.isFifo) return "fifo";
  return undefined;
}

function devOf(info: Deno.FileInfo): { devmajor: number; devminor: number } {
  const rdev = info.rdev ?? 0;
  return { devmajor: (rdev >>> 8) & 0xfff, devminor: (rdev & 0xff) | ((rdev >>> 12) & 0xfff00) };
}

function entryOf(
  path: string,
  info: Deno.FileInfo,
  extra: Partial<CopyEntry> = {},
): CopyEntry | undefined {
  const type = typeOf(info);
  if (!type) return undefined; // sockets are not copied
  return {
    path,
    type,
    mode: (info.mode ?? 0) & 0o7777,
    uid: info.uid ?? 0,
    gid: info.gid ?? 0,
    mtime: Math.floor((info.mtime?.getTime() ?? 0) / 1000),
    size: type === "file" ? info.size : 0,
    ...((type === "char" || type === "block") && devOf(info)),
    ...extra,
  };
}

function join(a: string, b: string): string {
  return a === "" ? b : b === "" ? a : `${a}/${b}`;
}

/** Hard links inside a copied tree become links to the first name (by device and inode). */
class Links {
  #first = new Map<string, string>();
  /** The first name of this inode, or undefined (and remembers this one). */
  seen(info: Deno.FileInfo, path: string): string | undefined {
    if (!info.isFile || (info.nlink ?? 1) < 2) return undefined;
    const key = `${info.dev}:${info.ino}`;
    const first = this.#first.get(key);
    if (first === undefined) this.#first.set(key, path);
    return first;
  }
}

/** A host path as a source (`-L`: a symlink at the top is followed). */
export function hostSource(path: string, follow: boolean): Source {
  return async (sink) => {
    const links = new Links();
    const walk = async (host: string, rel: string, top: boolean) => {
      const info = top && follow ? Deno.statSync(host) : Deno.lstatSync(host);
      const first = links.seen(info, rel);
      if (first !== undefined) {
        await sink.put({ ...entryOf(rel, info)!, type: "link", size: 0, linkname: first });
        return;
      }
      const e = entryOf(rel, info, {
        ...(info.isSymlink && { linkname: Deno.readLinkSync(host) }),
        ...(info.isFile && { data: () => fileChunks(host, info.size, host) }),
      });
      if (!e) return;
      await sink.put(e);
      if (info.isDirectory) {
        for (const name of [...Deno.readDirSync(host)].map((d) => d.name).sort()) {
          await walk(`${host}/${name}`, join(rel, name), false);
        }
      }
    };
    await walk(path, "", true);
    await sink.finish();
  };
}

/** A tar stream (plain or compressed) as a source; its names are checked not to leave the copy. */
export function tarSource(stream: ReadableStream<Uint8Array>): Source {
  return async (sink) => {
    await readTar(stream, async (h, _pax, body) => {
      const path = entryPath(h.name);
      const type = ({
        file: "file",
        "contiguous-file": "file",
        directory: "dir",
        symlink: "symlink",
        link: "link",
        "character-device": "char",
        "block-device": "block",
        fifo: "fifo",
      } as Record<string, CopyEntry["type"]>)[h.type ?? "file"];
      if (!type || path === "") {
        for await (const _ of body) { /* drained: an entry ctr does not copy */ }
        return;
      }
      if (type !== "file") { for await (const _ of body) { /* none */ } }
      await sink.put({
        path,
        type,
        mode: (h.mode ?? 0o644) & 0o7777,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
        size: type === "file" ? (h.size ?? 0) : 0,
        ...(h.linkname != null &&
          { linkname: type === "link" ? entryPath(h.linkname) : h.linkname }),
        ...(h.devmajor !== undefined && { devmajor: h.devmajor, devminor: h.devminor ?? 0 }),
        ...(type === "file" && { data: () => body }),
      });
    });
    await sink.finish();
  };
}

/** Writes the entries as a tar to `out`, named below `topName` (docker's archive of a path). */
export function tarSink(out: WritableStream<Uint8Array>, topName: string): Sink {
  const w = out.getWriter();
  return {
    async put(e) {
      const name = join(topName, e.path) || ".";
      const header = encodeHeader({
        name: e.type === "dir" ? `${name}/` : name,
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.type === "file" ? e.size : 0,
        mtime: e.mtime,
        ...(e.linkname !== undefined &&
          { linkname: e.type === "link" ? join(topName, e.linkname) : e.linkname }),
        ...(e.devmajor !== undefined && { devmajor: e.devmajor, devminor: e.devminor }),
      });
      await w.write(header);
      if (e.type === "file" && e.data) {
        let n = 0;
        for await (const c of e.data()) {
          await w.write(c);
          n += c.length;
        }
        if (n !== e.size) throw new Error(`${name} changed size while it was copied`);
        const pad = padding(e.size);
        if (pad.length) await w.write(pad);
      }
    },
    async finish() {
      await w.write(TAR_END);
      w.releaseLock();
    },
  };
}

/** Writes the entries onto the host below `dir`, the copied item named `topName` ("" merges into `dir`). */
export function hostSink(dir: string, topName: string): Sink {
  const dirs: { path: string; mode: number; mtime: number }[] = [];
  return {
    async put(e) {
      const path = join(dir, join(topName, e.path));
      if (path === dir && e.type === "dir") return;
      let existing: Deno.FileInfo | undefined;
      try {
        existing = Deno.lstatSync(path);
      } catch { /* new */ }
      if (existing && !(existing.isDirectory && e.type === "dir")) {
        if (existing.isDirectory) {
          throw new Error(`cannot overwrite directory ${path} with non-directory`);
        }
        Deno.removeSync(path);
      }
      switch (e.type) {
        case "dir":
          if (!existing) Deno.mkdirSync(path, { mode: 0o700 });
          dirs.push({ path, mode: e.mode, mtime: e.mtime });
          return;
        case "file": {
          const f = Deno.openSync(path, { write: true, createNew: true, mode: 0o600 });
          try {
            for await (const c of e.data?.() ?? []) {
              for (let off = 0; off < c.length;) off += f.writeSync(c.subarray(off));
            }
          } finally {
            f.close();
          }
          break;
        }
        case "symlink":
          Deno.symlinkSync(e.linkname ?? "", path);
          return;
        case "link":
          Deno.linkSync(join(dir, join(topName, e.linkname ?? "")), path);
          return;
        default:
          console.error(
            `ctr: warning: ${path}: ${e.type} devices and fifos are not copied to the host`,
          );
          return;
      }
      Deno.chmodSync(path, e.mode);
      Deno.utimeSync(path, e.mtime, e.mtime);
    },
    finish() {
      for (const d of dirs.reverse()) {
        Deno.chmodSync(d.path, d.mode);
        Deno.utimeSync(d.path, d.mtime, d.mtime);
      }
      return Promise.resolve();
    },
  };
}

/** Host ids of container ids, through a user namespace's map (identity without one). */
export function mapId(map: readonly IdMap[], id: number): number {
  if (map.length === 0) return id;
  const m = map.find((r) => id >= r.container && id < r.container + r.size);
  return m ? m.host + (id - m.container) : 65534;
}

/** Who owns what a copy writes into a container. */
export interface Owner {
  /** Keep the entries' ids (`-a`), else the container's root. */
  readonly archive: boolean;
  readonly uidMap: readonly IdMap[];
  readonly gidMap: readonly IdMap[];
}

/**
 * Writes entries below a directory fd, one name at a time without following
 * any symlink (lib/runtime/in_root.ts). `overlay`: the fd is in an overlay
 * upper directory, where a directory made over a whiteout must be opaque.
 */
export function fdSink(
  destFd: number,
  topName: string,
  owner: Owner,
  o: { overlay?: boolean; ownFd?: boolean } = {},
): Sink {
  const dirFds = new Map<string, number>([["", destFd]]);
  const dirs: { fd: number; mode: number; mtime: number }[] = [];
  const ids = (e: CopyEntry) => ({
    uid: mapId(owner.uidMap, owner.archive ? e.uid : 0),
    gid: mapId(owner.gidMap, owner.archive ? e.gid : 0),
  });
  const dirFd = (rel: string): number => {
    const have = dirFds.get(rel);
    if (have !== undefined) return have;
    const slash = rel.lastIndexOf("/");
    const parent = dirFd(slash < 0 ? "" : rel.slice(0, slash));
    const fd = openChild(parent, rel.slice(slash + 1), O.PATH | O.DIRECTORY);
    dirFds.set(rel, fd);
    return fd;
  };
  const split = (rel: string): [number, string] => {
    const slash = rel.lastIndexOf("/");
    return [dirFd(slash < 0 ? "" : rel.slice(0, slash)), rel.slice(slash + 1)];
  };
  return {
    async put(e) {
      const rel = join(topName, e.path);
      if (rel === "") {
        if (e.type !== "dir") throw new Error("cannot copy a non-directory onto a directory");
        return;
      }
      const [parent, name] = split(rel);
      const existing = lstatChild(parent, name);
      const wasWhiteout = existing !== undefined && isWhiteout(existing);
      if (existing && !(existing.isDirectory && e.type === "dir")) {
        if (existing.isDirectory) {
          throw new Error(`cannot overwrite directory ${rel} with non-directory`);
        }
        unlinkChild(parent, name);
      }
      const { uid, gid } = ids(e);
      switch (e.type) {
        case "dir": {
          if (!existing || !existing.isDirectory) mkdirChild(parent, name, 0o700);
          const fd = openChild(parent, name, O.RDONLY | O.DIRECTORY);
          dirFds.set(rel, fd);
          if (o.overlay && wasWhiteout) {
            // What the image had here was deleted: the new directory must not show it again.
            setXattrFd(fd, "trusted.overlay.opaque", new TextEncoder().encode("y"));
          }
          chownFd(fd, uid, gid);
          dirs.push({ fd, mode: e.mode, mtime: e.mtime });
          return;
        }
        case "file": {
          const fd = openChild(parent, name, O.WRONLY | O.CREAT | O.EXCL, 0o600);
          try {
            let n = 0;
            for await (const c of e.data?.() ?? []) {
              writeFd(fd, c);
              n += c.length;
            }
            if (n !== e.size) throw new Error(`${rel} changed size while it was copied`);
            chownFd(fd, uid, gid);
            chmodFd(fd, e.mode);
            utimesFd(fd, e.mtime);
          } finally {
            closeFd(fd);
          }
          return;
        }
        case "symlink":
          symlinkChild(e.linkname ?? "", parent, name);
          lchownChild(parent, name, uid, gid);
          lutimesChild(parent, name, e.mtime);
          return;
        case "link": {
          const [oldParent, oldName] = split(join(topName, e.linkname ?? ""));
          linkChild(oldParent, oldName, parent, name);
          return;
        }
        default: {
          mknodAt(parent, name, {
            type: e.type,
            mode: e.mode,
            major: e.devmajor,
            minor: e.devminor,
          });
          lchownChild(parent, name, uid, gid);
          lutimesChild(parent, name, e.mtime);
        }
      }
    },
    finish() {
      // Modes and times last: a read-only directory still took its children.
      for (const d of dirs.reverse()) {
        chmodFd(d.fd, d.mode);
        utimesFd(d.fd, d.mtime);
      }
      for (const [rel, fd] of dirFds) if (rel !== "" || o.ownFd) closeFd(fd);
      return Promise.resolve();
    },
  };
}

/** A container's file system, for cp: what is at a path, its entries, a place to write. */
export interface ContainerFs {
  /** What is at `path` (symlinks on the way followed inside the root; the last only with `follow`). */
  stat(path: string, follow: boolean): Deno.FileInfo | undefined;
  /** The item at `path` and what is below it. */
  source(path: string, follow: boolean): Source;
  /** `path` with every symlink on it resolved inside the root (docker's linkTarget). */
  resolve(path: string): string;
  /** A sink writing into the directory `dir` (which must exist), the item named `topName`. */
  sink(dir: string, topName: string, owner: Owner): Sink;
  close(): void;
}

function enoent(e: unknown): boolean {
  return e instanceof SyscallError && (e.code === "ENOENT" || e.code === "ENOTDIR");
}

function splitPath(path: string): [string, string] {
  const clean = "/" + path.split("/").filter((c) => c !== "" && c !== ".").join("/");
  const slash = clean.lastIndexOf("/");
  return [clean.slice(0, slash) || "/", clean.slice(slash + 1)];
}

/** A running container's root, through /proc/PID/root. */
export class LiveFs implements ContainerFs {
  readonly #root: number;
  constructor(pid: number) {
    this.#root = openRoot(`/proc/${pid}/root`);
  }

  /** An fd of what is at `path` (O_PATH), or undefined when nothing is. */
  #open(path: string, follow: boolean, flags: number = O.PATH): number | undefined {
    try {
      return openInRoot(this.#root, path, flags, !follow);
    } catch (e) {
      if (enoent(e)) return undefined;
      throw e;
    }
  }

  stat(path: string, follow: boolean): Deno.FileInfo | undefined {
    const [dir, base] = splitPath(path);
    if (!follow && base !== "") {
      const parent = this.#open(dir, true, O.PATH | O.DIRECTORY);
      if (parent === undefined) return undefined;
      try {
        return lstatChild(parent, base);
      } finally {
        closeFd(parent);
      }
    }
    const fd = this.#open(path, true);
    if (fd === undefined) return undefined;
    try {
      return statFd(fd);
    } finally {
      closeFd(fd);
    }
  }

  resolve(path: string): string {
    return walkSymlinks(path, (p) => {
      const [dir, base] = splitPath(p);
      if (base === "") return undefined;
      const parent = this.#open(dir, true, O.PATH | O.DIRECTORY);
      if (parent === undefined) return undefined;
      try {
        return lstatChild(parent, base)?.isSymlink ? readLinkChild(parent, base) : undefined;
      } finally {
        closeFd(parent);
      }
    });
  }

  source(path: string, follow: boolean): Source {
    return async (sink) => {
      const links = new Links();
      const [dir, base] = splitPath(path);
      const info = this.stat(path, follow);
      if (!info) throw new NoSuchPathError(path);
      // The item: its parent directory and name, or (followed) the object itself.
      const walkDir = async (fd: number, rel: string) => {
        for (const name of listFd(fd).sort()) {
          const ci = lstatChild(fd, name);
          if (!ci) continue; // gone meanwhile
          await this.#entry(sink, links, fd, name, ci, join(rel, name), walkDir);
        }
      };
      if (info.isSymlink) {
        const parent = this.#open(dir, true, O.PATH | O.DIRECTORY)!;
        try {
          await sink.put(entryOf("", info, { linkname: readLinkChild(parent, base) })!);
        } finally {
          closeFd(parent);
        }
      } else if (info.isDirectory) {
        const fd = this.#open(path, follow, O.RDONLY | O.DIRECTORY)!;
        try {
          await sink.put(entryOf("", info)!);
          await walkDir(fd, "");
        } finally {
          closeFd(fd);
        }
      } else {
        const fd = this.#open(path, follow, O.RDONLY | O.NONBLOCK)!;
        try {
          await this.#fileEntry(sink, fd, "", statFd(fd));
        } finally {
          closeFd(fd);
        }
      }
      await sink.finish();
    };
  }

  async #fileEntry(sink: Sink, fd: number, rel: string, info: Deno.FileInfo): Promise<void> {
    if (!info.isFile) {
      const e = entryOf(rel, info);
      if (e) await sink.put(e);
      return;
    }
    await sink.put(
      entryOf(rel, info, {
        data: function* () {
          let left = info.size;
          while (left > 0) {
            const buf = new Uint8Array(Math.min(1 << 20, left));
            const n = readFd(fd, buf);
            if (n === 0) throw new Error(`${rel || "file"} shrank while it was copied`);
            yield buf.subarray(0, n);
            left -= n;
          }
        },
      })!,
    );
  }

  async #entry(
    sink: Sink,
    links: Links,
    dirFd: number,
    name: string,
    info: Deno.FileInfo,
    rel: string,
    walkDir: (fd: number, rel: string) => Promise<void>,
  ): Promise<void> {
    if (info.isSymlink) {
      await sink.put(entryOf(rel, info, { linkname: readLinkChild(dirFd, name) })!);
      return;
    }
    if (info.isDirectory) {
      const fd = openChild(dirFd, name, O.RDONLY | O.DIRECTORY);
      try {
        await sink.put(entryOf(rel, info)!);
        await walkDir(fd, rel);
      } finally {
        closeFd(fd);
      }
      return;
    }
    if (!info.isFile) {
      const e = entryOf(rel, info);
      if (e) await sink.put(e);
      return;
    }
    const first = links.seen(info, rel);
    if (first !== undefined) {
      await sink.put({ ...entryOf(rel, info)!, type: "link", size: 0, linkname: first });
      return;
    }
    // O_NONBLOCK: a fifo swapped in for the file must not hang the copy.
    const fd = openChild(dirFd, name, O.RDONLY | O.NONBLOCK);
    try {
      await this.#fileEntry(sink, fd, rel, statFd(fd));
    } finally {
      closeFd(fd);
    }
  }

  sink(dir: string, topName: string, owner: Owner): Sink {
    const fd = this.#open(dir, true, O.PATH | O.DIRECTORY);
    if (fd === undefined) throw new NoSuchPathError(dir);
    return fdSink(fd, topName, owner, { ownFd: true });
  }

  close(): void {
    closeFd(this.#root);
  }
}

/** A stopped container's root: its upper directory over its image's layers. */
export class LayerFs implements ContainerFs {
  readonly #root: LayeredRoot;
  readonly #upper: string;

  constructor(s: ContainerState) {
    this.#root = containerRoot(s);
    this.#upper = `${s.dir}/upper`;
  }

  stat(path: string, follow: boolean): Deno.FileInfo | undefined {
    return this.#root.stat(path, follow)?.info;
  }

  resolve(path: string): string {
    return this.#root.resolve(path);
  }

  source(path: string, follow: boolean): Source {
    return async (sink) => {
      const links = new Links();
      const top = this.#root.stat(path, follow);
      if (!top) throw new NoSuchPathError(path);
      const put = async (hostPath: string, info: Deno.FileInfo, rel: string) => {
        const first = links.seen(info, rel);
        if (first !== undefined) {
          await sink.put({ ...entryOf(rel, info)!, type: "link", size: 0, linkname: first });
          return;
        }
        const e = entryOf(rel, info, {
          ...(info.isSymlink && { linkname: Deno.readLinkSync(hostPath) }),
          ...(info.isFile && { data: () => fileChunks(hostPath, info.size, rel || path) }),
        });
        if (e) await sink.put(e);
      };
      const walk = async (dir: string, rel: string) => {
        for (const c of this.#root.children(dir) ?? []) {
          const childRel = join(rel, c.path.slice(c.path.lastIndexOf("/") + 1));
          await put(c.hostPath, c.info, childRel);
          if (c.info.isDirectory) await walk(c.path, childRel);
        }
      };
      await put(top.hostPath, top.info, "");
      if (top.info.isDirectory) await walk(top.path, "");
      await sink.finish();
    };
  }

  /**
   * Makes `path` (symlink-free, a directory in the root) exist in the upper
   * directory: each missing directory is copied up from the layers (mode,
   * owner, times), as overlayfs would on a write below it.
   */
  #copyUp(path: string): void {
    let cur = "";
    for (const c of path.split("/").filter(Boolean)) {
      cur += `/${c}`;
      const up = `${this.#upper}${cur}`;
      let info: Deno.FileInfo | undefined;
      try {
        info = Deno.lstatSync(up);
      } catch { /* only in the layers */ }
      if (info?.isDirectory) continue;
      if (info) throw new Error(`${cur} is not a directory`);
      const low = this.#root.lstat(cur);
      if (!low?.info.isDirectory) throw new NoSuchPathError(path);
      Deno.mkdirSync(up, { mode: 0o700 });
      Deno.chownSync(up, low.info.uid ?? 0, low.info.gid ?? 0);
      Deno.chmodSync(up, (low.info.mode ?? 0o755) & 0o7777);
      Deno.utimeSync(up, low.info.atime ?? new Date(), low.info.mtime ?? new Date());
    }
  }

  sink(dir: string, topName: string, owner: Owner): Sink {
    const resolved = this.#root.resolve(dir);
    if (!this.#root.lstat(resolved)?.info.isDirectory) throw new NoSuchPathError(dir);
    this.#copyUp(resolved);
    const upperFd = openRoot(this.#upper);
    let fd: number;
    try {
      fd = resolved === "/"
        ? openInRoot(upperFd, "/", O.PATH | O.DIRECTORY)
        : openChildPath(upperFd, resolved);
    } finally {
      closeFd(upperFd);
    }
    return fdSink(fd, topName, owner, { overlay: true, ownFd: true });
  }

  close(): void {}
}

/** Opens a symlink-free relative path below a directory fd one name at a time. */
function openChildPath(dirFd: number, path: string): number {
  let fd = dirFd;
  for (const c of path.split("/").filter(Boolean)) {
    const next = openChild(fd, c, O.PATH | O.DIRECTORY);
    if (fd !== dirFd) closeFd(fd);
    fd = next;
  }
  return fd === dirFd ? openChild(dirFd, ".", O.PATH | O.DIRECTORY) : fd;
}

/** The file system of a recorded container, live when it runs. */
export function containerFs(s: ContainerState): ContainerFs {
  if (!s.config) throw new Error(`Container ${s.name} has no recorded configuration`);
  return isRunning(s) ? new LiveFs(s.pid) : new LayerFs(s);
}

/** docker's name for the copied item: the last component of a path (`/` has none). */
export function baseName(path: string): string {
  const parts = path.split("/").filter((c) => c !== "" && c !== ".");
  return parts[parts.length - 1] ?? "";
}

/** Whether a source path asks for a directory's contents rather than the directory (`dir/.`). */
export function wantsContents(path: string): boolean {
  return path === "." || path.endsWith("/.");
}

/** Where docker's rules put a copy: into `dir`, named `topName` ("": the contents merge into `dir`). */
export interface Placement {
  readonly dir: string;
  readonly topName: string;
}

/**
 * docker cp's destination rules. `srcIsDir`: what is copied; `dst`: the
 * destination path and what is there now (undefined: nothing).
 */
export function placement(
  src: { path: string; isDir: boolean },
  dst: { path: string; info: { isDirectory: boolean } | undefined },
): Placement {
  const dstDir = dst.path.replace(/\/+$/, "") || "/";
  if (dst.info?.isDirectory) {
    if (src.isDir && wantsContents(src.path)) return { dir: dstDir, topName: "" };
    return { dir: dstDir, topName: baseName(src.path) };
  }
  if (dst.info) {
    if (src.isDir) throw new Error("cannot copy a directory to a file");
    const slash = dstDir.lastIndexOf("/");
    return { dir: dstDir.slice(0, slash) || "/", topName: dstDir.slice(slash + 1) };
  }
  if (dst.path.endsWith("/") && !src.isDir) {
    throw new NoSuchPathError(`${dst.path}: the destination directory must exist`);
  }
  const slash = dstDir.lastIndexOf("/");
  return {
    dir: slash < 0 ? "." : (dstDir.slice(0, slash) || "/"),
    topName: dstDir.slice(slash + 1),
  };
}
