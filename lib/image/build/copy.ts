/**
 * COPY and ADD, planned: which files go where, with docker's rules.
 *
 * - sources: `/` and `..` cannot leave the root, wildcards are Go's
 *   filepath.Match per path component, a wildcard that matches nothing
 *   copies nothing, a missing plain path is an error; a source symlink is
 *   followed (inside the root), symlinks below a copied directory are kept;
 *   a directory's contents are copied, not the directory itself; what
 *   .dockerignore or `--exclude` excludes does not exist;
 * - destination: relative to WORKDIR; a trailing `/` (or an existing
 *   directory) means "into"; several sources need a `/`; missing parents
 *   are created (0755, or an octal `--chmod`, owned by `--chown`), existing
 *   ones keep the stage's metadata; symlinks in the destination resolve
 *   inside the stage's root (with `--link` nothing is read from it);
 * - owners: `--chown`, else root's for the context and the source's own
 *   for stages and images; modes: the source's, or `--chmod`;
 * - hard links between copied files stay hard links.
 *
 * planCopy() decides every file operation without writing anything;
 * copyDigest() hashes what they read (paths, modes, owners, contents; not
 * times) for the build cache; staging.ts writes them.
 * @module
 */

import { createHash } from "node:crypto";
import { type Digest, sha256 } from "../digest.ts";
import type { SourceContent } from "./instructions.ts";
import { cleanPath, goMatch, hasWildcards, type MatchInfo, PatternMatcher } from "./_match.ts";
import type { LayeredRoot, RootEntry } from "./_root.ts";
import { type ArchiveCompression, detectArchive, type Download } from "./add.ts";
import { type Chmod, parseChmod } from "./ownership.ts";

/** A COPY or ADD that cannot be done as asked. */
export class CopyError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = "CopyError";
  }
}

/** Where COPY/ADD reads from. */
export interface CopySource {
  /** The context, or the layers of a stage or an image. */
  readonly root: LayeredRoot;
  /** The context's .dockerignore: excluded paths do not exist for COPY. */
  readonly ignore?: PatternMatcher;
  /** Keep the source's owners (stages, images); else root's (the context). */
  readonly keepOwners: boolean;
}

/** What COPY or ADD is asked to do (values already substituted). */
export interface CopyRequest {
  readonly kind: "COPY" | "ADD";
  /** Source paths (local: context, stage or image). */
  readonly sources: readonly string[];
  /** Heredoc sources. */
  readonly contents?: readonly SourceContent[];
  /** ADD: URLs already downloaded, in order after `sources`. */
  readonly downloads?: readonly Download[];
  readonly dest: string;
  /** The stage's WORKDIR (relative destinations start there). */
  readonly workdir: string;
  readonly from: CopySource;
  /** The stage's root before the step; undefined with `--link` (nothing read from it). */
  readonly target?: LayeredRoot;
  /** `--chown`, resolved (parseChown). */
  readonly chown?: { readonly uid: number; readonly gid: number };
  /** `--chmod` as written. */
  readonly chmod?: string;
  /** `--exclude` patterns. */
  readonly exclude?: readonly string[];
  /** `--parents`. */
  readonly parents?: boolean;
  /** ADD `--unpack` (default: local archives unpack, downloads do not). */
  readonly unpack?: boolean;
  /** Time of directories and inline files the step creates, ns (default: now). */
  readonly createdNs?: bigint;
}

export interface Meta {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeNs: bigint;
}

/** One operation on the layer being made; paths are absolute container paths. */
export type CopyOp =
  | { readonly op: "dir"; readonly path: string; readonly meta: Meta; readonly source?: string }
  | {
    readonly op: "file";
    readonly path: string;
    readonly meta: Meta;
    readonly source: string;
    readonly size: number;
    /** For hashing: the source's identity. */
    readonly stat: Deno.FileInfo;
  }
  | { readonly op: "data"; readonly path: string; readonly meta: Meta; readonly data: Uint8Array }
  | { readonly op: "hardlink"; readonly path: string; readonly target: string }
  | {
    readonly op: "symlink";
    readonly path: string;
    readonly meta: Meta;
    readonly target: string;
    readonly source?: string;
  }
  | {
    readonly op: "node";
    readonly path: string;
    readonly meta: Meta;
    readonly type: "char" | "block" | "fifo";
    readonly rdev: number;
    readonly source: string;
  }
  | {
    readonly op: "archive";
    readonly path: string;
    readonly source: string;
    readonly stat: Deno.FileInfo;
    readonly compression: ArchiveCompression;
    readonly owner?: { readonly uid: number; readonly gid: number };
  };

/** Everything a COPY/ADD will write, in order (parents first, later ops win). */
export interface CopyPlan {
  readonly ops: readonly CopyOp[];
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function mtimeOf(info: Deno.FileInfo): bigint {
  return BigInt(info.mtime?.getTime() ?? 0) * 1_000_000n;
}

function joinPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

function basename(p: string): string {
  const c = p.replace(/\/+$/, "");
  return c.slice(c.lastIndexOf("/") + 1);
}

/**
 * Plans one COPY/ADD: reads the sources and the target, writes nothing.
 * Throws CopyError.
 */
export async function planCopy(req: CopyRequest): Promise<CopyPlan> {
  return await new Planner(req).plan();
}

/**
 * WORKDIR's directory: the operations that create `path` (absolute,
 * symlinks resolved in `target`) and its missing parents, 0755, owned by
 * `owner` (the stage's USER, as BuildKit's mkdir does); none when it is
 * already a directory in the stage, and then the step adds no layer.
 * Throws CopyError when a component is not a directory.
 */
export function planMkdir(
  target: LayeredRoot,
  path: string,
  opts: { owner?: { uid: number; gid: number }; createdNs?: bigint } = {},
): CopyPlan {
  const resolved = target.resolve(cleanPath("/" + path));
  const existing = target.lstat(resolved);
  if (existing?.info.isDirectory || resolved === "/") return { ops: [] };
  const ops: CopyOp[] = [];
  const created: Meta = {
    mode: 0o755,
    ...(opts.owner ?? { uid: 0, gid: 0 }),
    mtimeNs: opts.createdNs ?? nowNs(),
  };
  let cur = "";
  for (const c of resolved.split("/").filter((x) => x !== "")) {
    cur += "/" + c;
    const t = target.lstat(cur);
    if (t && !t.info.isDirectory) {
      throw new CopyError(`cannot create ${path}: ${cur} is not a directory`);
    }
    const meta = t
      ? {
        mode: (t.info.mode ?? 0) & 0o7777,
        uid: t.info.uid ?? 0,
        gid: t.info.gid ?? 0,
        mtimeNs: mtimeOf(t.info),
      }
      : created;
    ops.push({ op: "dir", path: cur, meta });
  }
  return { ops };
}

/** A source after wildcard expansion: its path in the source root and where it goes below dest. */
interface Match {
  readonly path: string;
  /** With --parents: the path kept below the destination. */
  readonly keep?: string;
}

class Planner {
  readonly ops: CopyOp[] = [];
  readonly #chmod?: Chmod;
  readonly #created: bigint;
  readonly #exclude?: PatternMatcher;
  /** Source inodes already copied: later hard links to them become links. */
  readonly #inodes = new Map<string, string>();

  constructor(readonly req: CopyRequest) {
    if (req.chmod) this.#chmod = parseChmod(req.chmod);
    this.#created = req.createdNs ?? nowNs();
    if (req.exclude?.length) this.#exclude = new PatternMatcher(req.exclude);
  }

  get #src(): LayeredRoot {
    return this.req.from.root;
  }

  #visible(path: string): boolean {
    const ig = this.req.from.ignore;
    const rel = path.replace(/^\/+/, "");
    return !ig || ig.empty || rel === "" || !ig.matches(rel);
  }

  #excluded(rel: string): boolean {
    return this.#exclude !== undefined && rel !== "" && this.#exclude.matches(rel);
  }

  #owner(info: Deno.FileInfo): { uid: number; gid: number } {
    if (this.req.chown) return this.req.chown;
    if (this.req.from.keepOwners) return { uid: info.uid ?? 0, gid: info.gid ?? 0 };
    return { uid: 0, gid: 0 };
  }

  #mode(info: Deno.FileInfo): number {
    const m = (info.mode ?? 0) & 0o7777;
    return this.#chmod ? this.#chmod.apply(m, info.isDirectory) : m;
  }

  /** Metadata of a directory the copy creates. */
  #createdDir(): Meta {
    const owner = this.req.chown ?? { uid: 0, gid: 0 };
    return { mode: this.#chmod?.octal ?? 0o755, ...owner, mtimeNs: this.#created };
  }

  /** Expands the wildcards of one source, component by component, in the source root. */
  #expand(src: string): Match[] {
    let pivot: string | undefined;
    let text = src;
    if (this.req.parents) {
      const i = src.indexOf("/./");
      if (i !== -1) {
        pivot = cleanPath("/" + src.slice(0, i));
        text = src.slice(0, i) + "/" + src.slice(i + 3);
      }
    }
    const clean = cleanPath("/" + text);
    const keep = (p: string) => {
      if (!this.req.parents) return undefined;
      const base = pivot ?? "/";
      return base === "/" ? p.slice(1) : p.slice(base.length + 1);
    };
    if (!hasWildcards(clean)) {
      if (!this.#visible(clean) || !this.#src.stat(clean)) {
        throw new CopyError(
          `failed to compute cache key: ${JSON.stringify(clean)}: not found` +
            (this.req.from.ignore ? " (or excluded by .dockerignore)" : ""),
        );
      }
      return [{ path: clean, ...(this.req.parents && { keep: keep(clean) }) }];
    }
    let paths = ["/"];
    for (const c of clean.split("/").filter((x) => x !== "")) {
      const next: string[] = [];
      for (const dir of paths) {
        if (c === "**" && this.req.parents) {
          next.push(...this.#descendants(dir));
          continue;
        }
        if (!hasWildcards(c)) {
          const p = joinPath(dir, c);
          if (this.#src.stat(p)) next.push(p);
          continue;
        }
        const resolved = this.#src.resolve(dir);
        for (const name of this.#src.list(resolved) ?? []) {
          if (goMatch(c, name)) next.push(joinPath(dir, name));
        }
      }
      paths = next;
    }
    return paths
      .filter((p) => this.#visible(p) && !this.#excluded(p.slice(1)))
      .map((p) => ({ path: p, ...(this.req.parents && { keep: keep(p) }) }));
  }

  /** A directory and everything below it (for `**`). */
  #descendants(dir: string): string[] {
    const out = [dir];
    const resolved = this.#src.resolve(dir);
    for (const e of this.#src.children(resolved) ?? []) {
      if (e.info.isDirectory) out.push(...this.#descendants(joinPath(dir, basename(e.path))));
    }
    return out;
  }

  /** Where the destination is in the target root, and whether it is a directory. */
  #destination(): { path: string; isDir: boolean; exists?: RootEntry } {
    const d = this.req.dest;
    const abs = d.startsWith("/") ? d : `${this.req.workdir || "/"}/${d === "" ? "." : d}`;
    const slash = /(^|\/)\.?$/.test(d);
    const clean = cleanPath(abs);
    const path = this.req.target ? this.req.target.resolve(clean) : clean;
    const exists = this.req.target?.lstat(path);
    return { path, isDir: slash || exists?.info.isDirectory === true, ...(exists && { exists }) };
  }

  /** Operations for the parents of `path` (not the root): the target's, or created ones. */
  #parents(path: string, meta?: (p: string) => Meta | undefined): void {
    const parts = path.split("/").filter((x) => x !== "");
    let cur = "";
    for (const p of parts.slice(0, -1)) {
      cur += "/" + p;
      this.#dirOp(cur, meta?.(cur));
    }
  }

  /** A directory operation at `path`: metadata from the target when it has one there. */
  #dirOp(path: string, meta?: Meta, source?: string): void {
    const t = this.req.target?.lstat(path);
    if (t && !t.info.isDirectory) {
      throw new CopyError(`cannot copy to non-directory: ${path}`);
    }
    const m = meta ?? (t ? this.#metaOf(t.info, true) : this.#createdDir());
    this.ops.push({ op: "dir", path, meta: m, ...(source !== undefined && { source }) });
  }

  /** The target's own metadata of an entry (owners as they are). */
  #metaOf(info: Deno.FileInfo, keep: boolean): Meta {
    return {
      mode: (info.mode ?? 0) & 0o7777,
      uid: keep ? info.uid ?? 0 : 0,
      gid: keep ? info.gid ?? 0 : 0,
      mtimeNs: mtimeOf(info),
    };
  }

  #sourceMeta(info: Deno.FileInfo): Meta {
    return { mode: this.#mode(info), ...this.#owner(info), mtimeNs: mtimeOf(info) };
  }

  /** One entry (not a directory) of the source at `dest`. */
  #leaf(e: RootEntry, dest: string): void {
    const info = e.info;
    const t = this.req.target?.lstat(dest);
    if (t?.info.isDirectory) {
      throw new CopyError(`cannot replace to directory ${dest} with file`);
    }
    const meta = this.#sourceMeta(info);
    if (info.isFile) {
      const key = `${info.dev}:${info.ino}`;
      const first = (info.nlink ?? 1) > 1 ? this.#inodes.get(key) : undefined;
      if (first !== undefined) {
        this.ops.push({ op: "hardlink", path: dest, target: first });
        return;
      }
      if ((info.nlink ?? 1) > 1) this.#inodes.set(key, dest);
      this.ops.push({
        op: "file",
        path: dest,
        meta,
        source: e.hostPath,
        size: info.size,
        stat: info,
      });
    } else if (info.isSymlink) {
      this.ops.push({
        op: "symlink",
        path: dest,
        meta,
        target: Deno.readLinkSync(e.hostPath),
        source: e.hostPath,
      });
    } else if (info.isCharDevice || info.isBlockDevice || info.isFifo) {
      const type = info.isCharDevice ? "char" : info.isBlockDevice ? "block" : "fifo";
      this.ops.push({
        op: "node",
        path: dest,
        meta,
        type,
        rdev: info.rdev ?? 0,
        source: e.hostPath,
      });
    }
    // Sockets are not copied, as docker.
  }

  /**
   * A source directory's contents into `dest`, recursively. A directory
   * hidden by .dockerignore or --exclude is entered only when an exception
   * may re-include something below it; its operation is then written only
   * before the first thing that is.
   */
  #tree(
    dir: RootEntry,
    dest: string,
    rel: string,
    parent: MatchInfo | undefined,
    pending: (() => void)[],
  ): void {
    const flush = () => {
      for (const f of pending.splice(0)) f();
    };
    for (const e of this.#src.children(dir.path) ?? []) {
      const name = basename(e.path);
      const relPath = rel === "" ? name : `${rel}/${name}`;
      let info: MatchInfo | undefined;
      let excluded = !this.#visible(e.path);
      if (this.#exclude) {
        let ex: boolean;
        [ex, info] = this.#exclude.match(relPath, parent ?? []);
        excluded ||= ex;
      }
      const target = joinPath(dest, name);
      if (e.info.isDirectory) {
        const op = () => this.#dirOp(target, this.#sourceMeta(e.info), e.hostPath);
        if (!excluded) {
          flush();
          op();
          this.#tree(e, target, relPath, info, []);
        } else if (this.#exclude?.exclusions || this.req.from.ignore?.exclusions) {
          const sub = [...pending, op];
          this.#tree(e, target, relPath, info, sub);
          if (sub.length === 0) pending.length = 0; // flushed below: ours are written
        }
        continue;
      }
      if (excluded) continue;
      flush();
      this.#leaf(e, target);
    }
  }

  async plan(): Promise<CopyPlan> {
    const r = this.req;
    const matches = r.sources.flatMap((s) => this.#expand(s));
    const count = matches.length + (r.contents?.length ?? 0) + (r.downloads?.length ?? 0);
    const dest = this.#destination();
    if (count > 1 && !/(^|\/)\.?$/.test(r.dest) && !r.parents) {
      throw new CopyError(
        `When using ${r.kind} with more than one source file, the destination must be a directory and end with a /`,
      );
    }
    const unpackLocal = r.kind === "ADD" && (r.unpack ?? true);
    for (const m of matches) {
      const e = this.#src.stat(m.path);
      if (!e) continue; // a dangling symlink matched by a wildcard
      const base = m.keep !== undefined ? joinPath(dest.path, m.keep) : undefined;
      if (e.info.isDirectory) {
        const to = base ?? dest.path;
        if (dest.exists && !dest.exists.info.isDirectory && base === undefined) {
          throw new CopyError(`cannot copy to non-directory: ${to}`);
        }
        this.#parents(to);
        const t = this.req.target?.lstat(to);
        const meta = t?.info.isDirectory
          ? { ...this.#metaOf(t.info, true), mtimeNs: mtimeOf(e.info) }
          : { ...this.#createdDir(), mtimeNs: mtimeOf(e.info) };
        if (to !== "/") this.#dirOp(to, meta);
        this.#tree(e, to, "", undefined, []);
        continue;
      }
      const compression = unpackLocal && e.info.isFile
        ? await detectArchive(e.hostPath)
        : undefined;
      if (compression !== undefined) {
        const to = base ?? dest.path;
        this.#parents(to);
        if (to !== "/") this.#dirOp(to);
        this.ops.push({
          op: "archive",
          path: to,
          source: e.hostPath,
          stat: e.info,
          compression,
          ...(r.chown && { owner: r.chown }),
        });
        continue;
      }
      const to = base ?? (dest.isDir ? joinPath(dest.path, basename(m.path)) : dest.path);
      this.#parents(to);
      this.#leaf(e, to);
    }
    for (const c of r.contents ?? []) {
      const to = dest.isDir ? joinPath(dest.path, basename(c.path)) : dest.path;
      this.#parents(to);
      const mode = this.#chmod ? this.#chmod.apply(0o644, false) : 0o644;
      this.ops.push({
        op: "data",
        path: to,
        meta: { mode, ...(r.chown ?? { uid: 0, gid: 0 }), mtimeNs: this.#created },
        data: new TextEncoder().encode(c.data),
      });
    }
    for (const d of r.downloads ?? []) {
      const st = Deno.statSync(d.hostPath);
      const compression = r.unpack === true ? await detectArchive(d.hostPath) : undefined;
      if (compression !== undefined) {
        this.#parents(dest.path);
        if (dest.path !== "/") this.#dirOp(dest.path);
        this.ops.push({
          op: "archive",
          path: dest.path,
          source: d.hostPath,
          stat: st,
          compression,
          ...(r.chown && { owner: r.chown }),
        });
        continue;
      }
      const to = dest.isDir ? joinPath(dest.path, d.name) : dest.path;
      this.#parents(to);
      const mode = this.#chmod ? this.#chmod.apply(0o600, false) : 0o600;
      this.ops.push({
        op: "file",
        path: to,
        meta: { mode, ...(r.chown ?? { uid: 0, gid: 0 }), mtimeNs: d.mtimeNs ?? this.#created },
        source: d.hostPath,
        size: st.size,
        stat: st,
      });
    }
    return { ops: this.ops };
  }
}

/** Files up to this size are read in one call; larger ones through one shared buffer. */
const WHOLE_FILE = 4 << 20;
const readBuffer = new Uint8Array(1 << 20);

/** File content hashes, kept by file identity: a file read again unchanged is not hashed again. */
export class FileHashCache {
  readonly #hashes = new Map<string, string>();

  /** The sha256 (hex) of a host file whose lstat is `st`. */
  hash(path: string, st: Deno.FileInfo): string {
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtime?.getTime()}:${st.ctime?.getTime()}`;
    const known = this.#hashes.get(key);
    if (known) return known;
    const h = createHash("sha256");
    if (st.size <= WHOLE_FILE) h.update(Deno.readFileSync(path));
    else {
      const f = Deno.openSync(path);
      try {
        for (;;) {
          const n = f.readSync(readBuffer);
          if (n === null || n === 0) break;
          h.update(readBuffer.subarray(0, n));
        }
      } finally {
        f.close();
      }
    }
    const hex = h.digest("hex");
    this.#hashes.set(key, hex);
    return hex;
  }
}

const defaultHashes = new FileHashCache();

/**
 * The digest of what a planned COPY/ADD reads and writes: every operation's
 * path, type, mode, owner, link target and content hash; never times. Two
 * plans with the same digest produce the same layer content.
 */
export function copyDigest(plan: CopyPlan, cache: FileHashCache = defaultHashes): Digest {
  const h = createHash("sha256");
  for (const op of plan.ops) {
    const meta = "meta" in op ? `${op.meta.mode.toString(8)} ${op.meta.uid}:${op.meta.gid}` : "";
    let extra = "";
    switch (op.op) {
      case "file":
        extra = cache.hash(op.source, op.stat);
        break;
      case "data":
        extra = sha256(op.data);
        break;
      case "symlink":
      case "hardlink":
        extra = op.target;
        break;
      case "node":
        extra = `${op.type} ${op.rdev}`;
        break;
      case "archive":
        extra = `${cache.hash(op.source, op.stat)} ${
          op.owner ? `${op.owner.uid}:${op.owner.gid}` : ""
        }`;
        break;
    }
    h.update(`${op.op}\0${op.path}\0${meta}\0${extra}\n`);
  }
  return `sha256:${h.digest("hex")}`;
}
