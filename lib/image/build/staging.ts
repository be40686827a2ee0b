/**
 * Writes a planned COPY/ADD (copy.ts) into the step's staging directory, a
 * fresh directory that becomes the step's layer (diff.ts, kind "tree"):
 * owners, modes, extended attributes (but overlay's own), times, hard
 * links, devices, and ADD archives unpacked with the layer extractor's
 * checks against hostile tars. Directory times are set last.
 * @module
 */

import { lchown, lsetxattr, lutimes, mknod } from "../_fs.ts";
import { extractLayer } from "../layer.ts";
import { removeTree } from "../../os/tree.ts";
import { contentXattrs } from "./_root.ts";
import { decompressed } from "./add.ts";
import { CopyError, type CopyPlan, type Meta } from "./copy.ts";

function parentOf(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

function exists(p: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(p);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Copies a file's content xattrs (but overlay's own). */
function copyXattrs(from: string, to: string): void {
  for (const [n, v] of contentXattrs(from)) {
    try {
      lsetxattr(to, n, v);
    } catch { /* a file system without that namespace: skipped, as docker does */ }
  }
}

/** Makes room for a non-directory at `p` (a directory there is an error, as docker). */
function clear(p: string): void {
  const st = exists(p);
  if (!st) return;
  if (st.isDirectory) throw new CopyError(`cannot replace to directory ${p} with file`);
  Deno.removeSync(p);
}

function setMeta(p: string, meta: Meta, symlink: boolean, root: boolean): void {
  if (root) lchown(p, meta.uid, meta.gid);
  if (!symlink) Deno.chmodSync(p, meta.mode);
}

/** Moves an unpacked tree into place, merging directories, replacing the rest. */
function merge(from: string, to: string): void {
  for (const e of Deno.readDirSync(from)) {
    const src = `${from}/${e.name}`;
    const dst = `${to}/${e.name}`;
    const st = exists(dst);
    const sst = Deno.lstatSync(src);
    if (st?.isDirectory && sst.isDirectory) {
      merge(src, dst);
      continue;
    }
    if (st) Deno.removeSync(dst, { recursive: true });
    Deno.renameSync(src, dst);
  }
}

function chownTree(p: string, owner: { uid: number; gid: number }): void {
  lchown(p, owner.uid, owner.gid);
  const st = Deno.lstatSync(p);
  if (st.isDirectory) { for (const e of Deno.readDirSync(p)) chownTree(`${p}/${e.name}`, owner); }
}

/**
 * Writes a plan into `staging` (a fresh directory: the layer's root), as
 * root: owners, modes, times, extended attributes. Directory times are set
 * last, once nothing more is written inside them.
 */
export async function applyCopy(plan: CopyPlan, staging: string): Promise<void> {
  const root = Deno.uid() === 0;
  const dirTimes = new Map<string, bigint>();
  const at = (p: string) => staging + p;
  for (const op of plan.ops) {
    const p = at(op.path);
    switch (op.op) {
      case "dir": {
        const st = exists(p);
        if (st && !st.isDirectory) Deno.removeSync(p);
        if (!st || !st.isDirectory) Deno.mkdirSync(p, { mode: 0o700 });
        setMeta(p, op.meta, false, root);
        if (op.source) copyXattrs(op.source, p);
        dirTimes.set(p, op.meta.mtimeNs);
        break;
      }
      case "file":
        clear(p);
        Deno.copyFileSync(op.source, p);
        setMeta(p, op.meta, false, root);
        copyXattrs(op.source, p);
        lutimes(p, op.meta.mtimeNs, op.meta.mtimeNs);
        break;
      case "data":
        clear(p);
        Deno.writeFileSync(p, op.data, { mode: 0o600, createNew: true });
        setMeta(p, op.meta, false, root);
        lutimes(p, op.meta.mtimeNs, op.meta.mtimeNs);
        break;
      case "hardlink":
        clear(p);
        Deno.linkSync(at(op.target), p);
        break;
      case "symlink":
        clear(p);
        Deno.symlinkSync(op.target, p);
        setMeta(p, op.meta, true, root);
        if (op.source) copyXattrs(op.source, p);
        lutimes(p, op.meta.mtimeNs, op.meta.mtimeNs);
        break;
      case "node":
        clear(p);
        mknod(
          p,
          op.type,
          op.meta.mode,
          (op.rdev >>> 8) & 0xfff,
          (op.rdev & 0xff) | ((op.rdev >>> 12) & 0xfff00),
        );
        setMeta(p, op.meta, false, root);
        lutimes(p, op.meta.mtimeNs, op.meta.mtimeNs);
        break;
      case "archive": {
        const c = op.compression;
        const tmp = `${Deno.makeTempDirSync({ dir: staging, prefix: ".unpack-" })}/t`;
        try {
          const d = await decompressed(op.source, c);
          try {
            await extractLayer(d.stream, tmp, { plain: true });
          } finally {
            await d.done();
          }
          if (op.owner) chownTree(tmp, op.owner);
          const st = exists(p);
          if (!st?.isDirectory) {
            if (st) Deno.removeSync(p);
            Deno.mkdirSync(p, { recursive: true });
          }
          merge(tmp, p);
        } finally {
          removeTree(parentOf(tmp));
        }
        break;
      }
    }
  }
  for (const [p, t] of [...dirTimes].reverse()) lutimes(p, t, t);
}
