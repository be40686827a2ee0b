/**
 * Layer extraction: a layer tar (plain, gzip or zstd) becomes a directory
 * that overlayfs can stack. npm:tar-stream only parses; the policy is ours:
 *
 * - regular files, directories, symlinks, hardlinks, character and block
 *   devices and fifos; owners (lchown), then modes with setuid, setgid and
 *   sticky bits (chown clears setuid, so chmod comes after), then extended
 *   attributes from PAX headers (`SCHILY.xattr.*`, `LIBARCHIVE.xattr.*`;
 *   after chown, which clears `security.capability`), then times;
 *   directories get theirs once everything inside them is written;
 * - whiteouts: `.wh.NAME` becomes an overlay whiteout (a 0/0 character
 *   device) and `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its
 *   directory, and `user.overlay.opaque=y` for userxattr mounts (user
 *   namespaces); overlay xattrs carried by the tar itself are ignored;
 * - nothing is ever written outside the layer directory: entries with `..`
 *   components or absolute names, entries whose parent path goes through a
 *   symlink, hardlinks to outside or through a symlink are refused, and the
 *   directory is deleted.
 *
 * The diff_id (sha256 of the uncompressed tar) is computed on the way.
 * @module
 */

import type tar from "tar-stream";
import type { TarStream } from "./tar_stream.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { removeTree } from "../os/tree.ts";
import { type Compression, decompress } from "./compression.ts";
import { type Digest, Hasher } from "./digest.ts";
import { lchown, lsetxattr, lutimes, mknod } from "./_fs.ts";
import type { OwnedEntry } from "../os/privileged.ts";

/** A layer that cannot be extracted, or an entry that the policy refuses. */
export class LayerError extends Error {
  constructor(detail: string) {
    super(`Cannot extract the layer: ${detail}`);
    this.name = "LayerError";
  }
}

/** What extraction found out about a layer. */
export interface LayerInfo {
  /** sha256 of the uncompressed tar. */
  readonly diffId: Digest;
  /** Bytes of the uncompressed tar. */
  readonly size: number;
  /** The compression the layer had. */
  readonly compression: Compression;
  /** Entries that were skipped, and why. */
  readonly warnings: readonly string[];
}

/** Options of extractLayer. */
export interface ExtractOptions {
  /** Give entries the tar's owners (default: when running as root). */
  readonly chown?: boolean;
  /**
   * A plain archive, not a layer (a build context, an ADD archive):
   * `.wh.` names are ordinary files, not whiteouts.
   */
  readonly plain?: boolean;
  /**
   * Without `chown`: where the owners the tar names (other than 0:0) are
   * listed instead, for a helper with privileges over those ids to apply
   * (a rootless user's subordinate ids; see lib/os/privileged.ts).
   */
  readonly owners?: OwnedEntry[];
}

/** The prefix of whiteout names. */
export const WHITEOUT_PREFIX = ".wh.";
/** The name that marks its directory opaque. */
export const OPAQUE_MARKER = ".wh..wh..opq";
/** The xattr that makes an overlay lower directory opaque. */
export const OPAQUE_XATTR = "trusted.overlay.opaque";
/** The same, for overlay mounts with the userxattr option. */
export const OPAQUE_USER_XATTR = "user.overlay.opaque";

/** PAX extended header records; values are raw bytes (xattr values are binary). */
export function parsePax(buf: Uint8Array): Map<string, Uint8Array> {
  const records = new Map<string, Uint8Array>();
  const dec = new TextDecoder();
  let off = 0;
  while (off < buf.length) {
    let sp = off;
    while (sp < buf.length && buf[sp] !== 0x20) sp++;
    const len = parseInt(dec.decode(buf.subarray(off, sp)), 10);
    if (!(len > 0) || off + len > buf.length) break;
    const rec = buf.subarray(sp + 1, off + len - 1); // without the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq > 0) records.set(dec.decode(rec.subarray(0, eq)), rec.slice(eq + 1));
    off += len;
  }
  return records;
}

/** Extended attributes named in PAX records (`SCHILY.xattr.` raw, `LIBARCHIVE.xattr.` base64). */
export function paxXattrs(pax: Map<string, Uint8Array>): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [key, value] of pax) {
    if (key.startsWith("SCHILY.xattr.")) out.set(key.slice(13), value);
    else if (key.startsWith("LIBARCHIVE.xattr.")) {
      const name = decodeURIComponent(key.slice(17));
      if (!out.has(name)) {
        const bin = atob(new TextDecoder().decode(value));
        out.set(name, Uint8Array.from(bin, (c) => c.charCodeAt(0)));
      }
    }
  }
  return out;
}

/**
 * The path of an entry relative to the layer root ("" for the root itself):
 * `./` prefixes and `.` components go, a name made of `/` and `.` only is the
 * root; a `..` component or an absolute name throws.
 */
export function entryPath(name: string): string {
  if (/^[./]*$/.test(name) && !name.includes("..")) return "";
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (name.startsWith("/") || parts.includes("..")) {
    throw new LayerError(`Entry escapes the root: ${name}`);
  }
  return parts.join("/");
}

/** What a whiteout entry means, by the entry's relative path. */
export type Whiteout =
  | { readonly kind: "opaque"; readonly dir: string }
  | { readonly kind: "whiteout"; readonly path: string }
  | { readonly kind: "meta" };

/** Classifies whiteout names; undefined for ordinary entries. */
export function whiteoutOf(rel: string): Whiteout | undefined {
  const slash = rel.lastIndexOf("/");
  const dir = slash === -1 ? "" : rel.slice(0, slash);
  const base = rel.slice(slash + 1);
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined;
  if (base === OPAQUE_MARKER) return { kind: "opaque", dir };
  // Other .wh..wh. names are aufs bookkeeping (hardlink dirs): not content.
  if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return { kind: "meta" };
  const name = base.slice(WHITEOUT_PREFIX.length);
  return { kind: "whiteout", path: dir ? `${dir}/${name}` : name };
}

interface Meta {
  mode: number;
  uid: number;
  gid: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  xattrs: Map<string, Uint8Array>;
}

function paxNumber(pax: Map<string, Uint8Array>, key: string): string | undefined {
  const v = pax.get(key);
  return v ? new TextDecoder().decode(v) : undefined;
}

function paxTimeNs(v: string | undefined): bigint | undefined {
  const m = v?.match(/^(-?\d+)(?:\.(\d{1,9})\d*)?$/);
  if (!m) return undefined;
  return BigInt(m[1]) * 1_000_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

function metaOf(h: tar.Header, pax: Map<string, Uint8Array>): Meta {
  const int = (key: string, fallback: number) => {
    const v = paxNumber(pax, key);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : fallback;
  };
  const mtimeNs = paxTimeNs(paxNumber(pax, "mtime")) ??
    BigInt(Math.floor(h.mtime.getTime() / 1000)) * 1_000_000_000n;
  return {
    mode: h.mode & 0o7777,
    uid: int("uid", h.uid),
    gid: int("gid", h.gid),
    mtimeNs,
    atimeNs: paxTimeNs(paxNumber(pax, "atime")) ?? mtimeNs,
    xattrs: paxXattrs(pax),
  };
}

async function drain(body: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of body) { /* discard */ }
}

/** One extraction into one directory. */
class Extractor {
  readonly warnings: string[] = [];
  /** Relative paths known to be real directories (not symlinks) of this layer. */
  readonly #realDirs = new Set<string>([""]);
  /** Directories whose metadata is applied at the end. */
  readonly #dirs = new Map<string, Meta>();
  /**
   * Relative paths this extraction made. The root is new and empty, so
   * nothing else can be there: a path not listed needs no lstat (a failed
   * lstat per file, with its thrown NotFound, cost a tenth of extracting a
   * layer of small files).
   */
  readonly #made = new Set<string>([""]);

  constructor(
    readonly root: string,
    readonly chown: boolean,
    readonly plain = false,
    readonly owners?: OwnedEntry[],
  ) {}

  /** Gives a path its owner, or lists it for the helper when this process may not. */
  #own(rel: string, meta: Meta, regular: boolean): void {
    if (this.chown) lchown(this.#abs(rel), meta.uid, meta.gid);
    else if (this.owners && (meta.uid !== 0 || meta.gid !== 0)) {
      // chown clears setuid and setgid: the helper sets such a mode again after it.
      const special = regular && (meta.mode & 0o6000) !== 0;
      this.owners.push({
        path: rel,
        uid: meta.uid,
        gid: meta.gid,
        ...(special && { mode: meta.mode }),
      });
    }
  }

  #abs(rel: string): string {
    return rel === "" ? this.root : `${this.root}/${rel}`;
  }

  /** Makes sure every parent of `rel` is a real directory of the layer, creating missing ones. */
  #parents(rel: string, name: string, create = true): void {
    const parts = rel.split("/");
    parts.pop();
    let cur = "";
    for (const p of parts) {
      cur = cur ? `${cur}/${p}` : p;
      if (this.#realDirs.has(cur)) continue;
      const st = this.#made.has(cur) ? Deno.lstatSync(this.#abs(cur)) : undefined;
      if (st?.isSymlink) {
        throw new LayerError(`Entry escapes the root: ${name} (${cur} is a symlink)`);
      }
      if (st && !st.isDirectory) throw new LayerError(`${name}: ${cur} is not a directory`);
      if (!st) {
        if (!create) throw new LayerError(`${name}: ${cur} does not exist`);
        Deno.mkdirSync(this.#abs(cur), { mode: 0o755 });
        Deno.chmodSync(this.#abs(cur), 0o755);
        this.#made.add(cur);
      }
      this.#realDirs.add(cur);
    }
  }

  /** Clears the way for a new entry at `rel`; true when a directory stays to be merged into. */
  #prepare(rel: string, dir: boolean): boolean {
    if (!this.#made.has(rel)) return false;
    const st = Deno.lstatSync(this.#abs(rel));
    if (dir && st.isDirectory) return true;
    Deno.removeSync(this.#abs(rel), { recursive: true });
    for (const d of [...this.#made]) {
      if (d === rel || d.startsWith(rel + "/")) this.#made.delete(d);
    }
    for (const d of [...this.#realDirs]) {
      if (d === rel || d.startsWith(rel + "/")) this.#realDirs.delete(d);
    }
    for (const d of [...this.#dirs.keys()]) {
      if (d === rel || d.startsWith(rel + "/")) this.#dirs.delete(d);
    }
    return false;
  }

  #xattrs(path: string, name: string, xattrs: Map<string, Uint8Array>): void {
    for (const [x, value] of xattrs) {
      if (x.startsWith("trusted.overlay.") || x.startsWith("user.overlay.")) {
        this.warnings.push(`${name}: ignored the overlay attribute ${x}`);
        continue;
      }
      try {
        lsetxattr(path, x, value);
      } catch (e) {
        if (e instanceof SyscallError && (e.code === "EOPNOTSUPP" || !this.chown)) {
          this.warnings.push(`${name}: extended attribute ${x} not set: ${e.code}`);
          continue;
        }
        throw new LayerError(`${name}: ${(e as Error).message}`);
      }
    }
  }

  /**
   * Marks a directory opaque for both kinds of overlay mounts: trusted.overlay.opaque
   * (needs CAP_SYS_ADMIN) and user.overlay.opaque (read with the userxattr option,
   * which user-namespaced containers mount with).
   */
  #opaque(rel: string, name: string): void {
    const y = new TextEncoder().encode("y");
    for (const x of [OPAQUE_XATTR, OPAQUE_USER_XATTR]) {
      try {
        lsetxattr(this.#abs(rel), x, y);
      } catch (e) {
        const optional = x === OPAQUE_XATTR
          ? !this.chown
          : (e as SyscallError).code === "EOPNOTSUPP";
        if (optional && e instanceof SyscallError) {
          this.warnings.push(`${name}: ${x} not set: ${e.code}`);
          continue;
        }
        throw new LayerError(`${name}: cannot mark the directory opaque: ${(e as Error).message}`);
      }
    }
  }

  /** Owner, mode, extended attributes and times, in that order. */
  #apply(rel: string, name: string, meta: Meta, symlink: boolean, regular = false): void {
    const path = this.#abs(rel);
    this.#own(rel, meta, regular);
    if (!symlink) Deno.chmodSync(path, meta.mode);
    this.#xattrs(path, name, meta.xattrs);
    lutimes(path, meta.atimeNs, meta.mtimeNs);
  }

  /** A hardlink's target, checked: inside the layer, through real directories, already there. */
  #linkTarget(linkname: string, name: string): string {
    let rel: string;
    try {
      rel = entryPath(linkname);
    } catch {
      throw new LayerError(`Hardlink escapes the root: ${name} -> ${linkname}`);
    }
    if (rel === "") throw new LayerError(`${name}: a hardlink to the root directory`);
    try {
      this.#parents(rel, name, false);
    } catch (e) {
      if (e instanceof LayerError && e.message.includes("escapes")) {
        throw new LayerError(
          `Hardlink escapes the root: ${name} -> ${linkname} (through a symlink)`,
        );
      }
      throw new LayerError(`${name}: the hardlink target ${linkname} does not exist`);
    }
    if (!this.#made.has(rel)) {
      throw new LayerError(`${name}: the hardlink target ${linkname} does not exist`);
    }
    const st = Deno.lstatSync(this.#abs(rel));
    if (st.isDirectory) throw new LayerError(`${name}: a hardlink to the directory ${linkname}`);
    return rel;
  }

  async entry(
    h: tar.Header,
    pax: Map<string, Uint8Array>,
    body: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    const name = h.name;
    const rel = entryPath(name);
    const meta = metaOf(h, pax);
    if (rel === "") {
      if (h.type !== "directory") throw new LayerError(`${name}: the root is not a directory`);
      this.#dirs.set("", meta);
      return drain(body);
    }
    const wh = this.plain ? undefined : whiteoutOf(rel);
    if (wh) {
      this.#parents(rel, name);
      await drain(body);
      if (wh.kind === "opaque") this.#opaque(wh.dir, name);
      else if (wh.kind === "whiteout") {
        this.#prepare(wh.path, false);
        mknod(this.#abs(wh.path), "char", 0);
        this.#made.add(wh.path);
        this.#own(wh.path, meta, false);
      }
      return;
    }
    this.#parents(rel, name);
    const path = this.#abs(rel);
    switch (h.type) {
      case "directory":
        if (!this.#prepare(rel, true)) Deno.mkdirSync(path, { mode: 0o700 });
        this.#made.add(rel);
        this.#realDirs.add(rel);
        this.#dirs.set(rel, meta);
        return drain(body);
      case "file":
      case "contiguous-file": {
        this.#prepare(rel, false);
        const f = Deno.openSync(path, { write: true, createNew: true, mode: 0o600 });
        this.#made.add(rel);
        try {
          for await (const chunk of body) {
            for (let off = 0; off < chunk.length;) off += f.writeSync(chunk.subarray(off));
          }
        } finally {
          f.close();
        }
        return this.#apply(rel, name, meta, false, true);
      }
      case "symlink":
        await drain(body);
        this.#prepare(rel, false);
        Deno.symlinkSync(h.linkname ?? "", path);
        this.#made.add(rel);
        return this.#apply(rel, name, meta, true);
      case "link": {
        await drain(body);
        const target = this.#linkTarget(h.linkname ?? "", name);
        if (target === rel) throw new LayerError(`${name}: a hardlink to itself`);
        this.#prepare(rel, false);
        Deno.linkSync(this.#abs(target), path);
        this.#made.add(rel);
        return;
      }
      case "character-device":
      case "block-device":
      case "fifo": {
        await drain(body);
        this.#prepare(rel, false);
        const type = h.type === "fifo" ? "fifo" : h.type === "block-device" ? "block" : "char";
        try {
          mknod(path, type, 0o600, h.devmajor, h.devminor);
          this.#made.add(rel);
        } catch (e) {
          // Without CAP_MKNOD devices are skipped, as docker does in a user namespace.
          if (e instanceof SyscallError && e.code === "EPERM" && type !== "fifo" && !this.chown) {
            this.warnings.push(`${name}: device node not created: EPERM`);
            return;
          }
          throw new LayerError(`${name}: ${(e as Error).message}`);
        }
        return this.#apply(rel, name, meta, false);
      }
      default:
        throw new LayerError(`${name}: unsupported entry type ${h.type}`);
    }
  }

  /** Directory metadata, once their content is complete. */
  finish(): void {
    if (!this.#dirs.has("")) Deno.chmodSync(this.root, 0o755);
    for (const [rel, meta] of this.#dirs) {
      if (!this.#realDirs.has(rel)) continue;
      this.#apply(rel, rel || "/", meta, false);
    }
  }
}

/**
 * Gives the files an extraction without privileges listed
 * (ExtractOptions.owners) their owners, and their modes again where the
 * chown cleared setuid or setgid; run by a process with privileges over
 * those ids. An id it cannot map (EINVAL) leaves the file as it is: returns
 * how many files stayed so and the ids that were not mapped.
 */
export function applyOwners(
  root: string,
  entries: readonly OwnedEntry[],
): { kept: number; unmapped: number[] } {
  const unmapped = new Set<number>();
  let kept = 0;
  for (const e of entries) {
    const rel = entryPath(e.path);
    const path = rel === "" ? root : `${root}/${rel}`;
    try {
      lchown(path, e.uid, e.gid);
    } catch (err) {
      if (!(err instanceof SyscallError)) throw err;
      if (err.code === "ENOENT") continue; // replaced by a later entry of the layer
      if (err.code !== "EINVAL") throw new LayerError(`${e.path}: ${err.message}`);
      kept++;
      for (const id of [e.uid, e.gid]) if (id !== 0) unmapped.add(id);
      continue;
    }
    if (e.mode !== undefined) Deno.chmodSync(path, e.mode);
  }
  return { kept, unmapped: [...unmapped].sort((a, b) => a - b) };
}

/** The tar-stream entry header with the raw PAX records captured alongside. */
type RawHeader = tar.Header & { rawPax?: Map<string, Uint8Array> };

interface ExtractInternals {
  _header: { type: string };
  _decodeLongHeader(buf: Uint8Array): void;
}

let tarLoad: Promise<TarStream> | undefined;

/** tar-stream, loaded once, by the first tar read or written (see tar_stream.ts). */
export function loadTarStream(): Promise<TarStream> {
  return tarLoad ??= import("./tar_stream.ts").then((m) => m.tar);
}

/**
 * A tar-stream extractor that also keeps each entry's PAX records as bytes:
 * tar-stream decodes them as UTF-8 text, which would corrupt binary xattr
 * values such as security.capability.
 */
function rawPaxExtract(tarStream: TarStream): tar.Extract {
  const ex = tarStream.extract();
  const inner = ex as unknown as ExtractInternals;
  const decode = inner._decodeLongHeader;
  let global: Map<string, Uint8Array> | undefined;
  let local: Map<string, Uint8Array> | undefined;
  inner._decodeLongHeader = function (this: ExtractInternals, buf: Uint8Array) {
    if (this._header.type === "pax-header") local = parsePax(buf);
    if (this._header.type === "pax-global-header") global = parsePax(buf);
    return decode.call(this, buf);
  };
  ex.on("entry", (header: RawHeader) => {
    header.rawPax = new Map([...(global ?? []), ...(local ?? [])]);
    local = undefined;
  });
  return ex;
}

/**
 * Reads a tar stream (any compression) to its end, giving each entry to
 * `onEntry`, and returns the uncompressed digest and size and the compression.
 * Entry bodies must be consumed.
 */
export async function readTar(
  source: ReadableStream<Uint8Array>,
  onEntry: (
    h: tar.Header,
    pax: Map<string, Uint8Array>,
    body: AsyncIterable<Uint8Array>,
  ) => Promise<void>,
): Promise<{ digest: Digest; size: number; compression: Compression }> {
  const { compression, stream } = await decompress(source);
  const hasher = new Hasher();
  const ex = rawPaxExtract(await loadTarStream());
  const reader = stream.getReader();
  let stopped = false;
  const feed = (async () => {
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done || stopped) break;
        hasher.update(r.value);
        if (!ex.write(r.value)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              ex.off("drain", done);
              ex.off("close", done);
              resolve();
            };
            ex.on("drain", done);
            ex.on("close", done);
          });
        }
      }
      if (!stopped) ex.end(undefined);
    } catch (e) {
      ex.destroy(e as Error);
      throw e;
    }
  })();
  try {
    for await (const entry of ex) {
      const header = entry.header as RawHeader;
      await onEntry(header, header.rawPax ?? new Map(), entry as AsyncIterable<Uint8Array>);
    }
    await feed;
  } catch (e) {
    stopped = true;
    ex.destroy();
    await reader.cancel().catch(() => {});
    await feed.catch(() => {});
    if ((e as Error).message === "Unexpected end of data") throw new Error("the tar is truncated");
    throw e;
  }
  return { digest: hasher.digest(), size: hasher.size, compression };
}

/** extractLayer of a file: a stored blob, any compression. */
export async function extractLayerFile(
  path: string,
  dir: string,
  opts: ExtractOptions = {},
): Promise<LayerInfo> {
  const f = await Deno.open(path);
  try {
    return await extractLayer(f.readable, dir, opts);
  } catch (e) {
    // A stream read to its end or cancelled has closed the file; one never read has not.
    try {
      f.close();
    } catch { /* closed with its stream */ }
    throw e;
  }
}

/**
 * Extracts a layer tar into `dir`, which must not exist yet and is created
 * here (mode 0700 until the end). On any failure `dir` is deleted and a
 * LayerError (or SyscallError) is thrown: nothing half-extracted is left.
 */
export async function extractLayer(
  source: ReadableStream<Uint8Array>,
  dir: string,
  opts: ExtractOptions = {},
): Promise<LayerInfo> {
  Deno.mkdirSync(dir, { mode: 0o700 });
  const x = new Extractor(dir, opts.chown ?? Deno.uid() === 0, opts.plain, opts.owners);
  try {
    const r = await readTar(source, (h, pax, body) => x.entry(h, pax, body));
    x.finish();
    return { diffId: r.digest, size: r.size, compression: r.compression, warnings: x.warnings };
  } catch (e) {
    removeTree(dir);
    if (e instanceof LayerError || e instanceof SyscallError) throw e;
    throw new LayerError((e as Error).message ?? String(e));
  }
}
