/**
 * The layer writer of a build: a container's overlay upper directory after
 * a RUN (or a fresh directory COPY/ADD wrote, with no whiteouts) becomes an
 * OCI layer in the store.
 *
 * - an overlay whiteout (a 0/0 character device) becomes `.wh.NAME`; an
 *   opaque directory (`trusted.overlay.opaque` or `user.overlay.opaque` = y)
 *   becomes the directory followed by `DIR/.wh..wh..opq`;
 * - files hard-linked to each other inside the layer become tar hard links
 *   to the first one written; symlinks, devices and fifos are kept;
 *   extended attributes (but overlay's own) become PAX `SCHILY.xattr.*`;
 * - reproducible: entries depth first in name order, numeric owners, no user
 *   or group names, whole-second mtimes (clamped to SOURCE_DATE_EPOCH when
 *   given), no atime or ctime: the same tree gives the same bytes;
 * - an upper directory made with overlay's redirect_dir or metacopy is
 *   refused: its entries do not hold what the container saw.
 *
 * The tar is hashed as it streams (diff_id), gzipped with the platform's
 * CompressionStream, hashed again (the blob digest) and stored, then
 * extracted into the store's layer directory so the next step can stack it.
 * Also: the image config of the result (image_config.ts) and the manifest
 * that registers the image.
 * @module
 */

import { lgetxattr } from "../_fs.ts";
import { type Digest, Hasher, sha256 } from "../digest.ts";
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from "../layer.ts";
import { registerImage } from "../images.ts";
import { type Descriptor, MEDIA } from "../schema.ts";
import type { ImageRecord, Store } from "../store.ts";
import { contentXattrs } from "./_root.ts";
import { encodeHeader, padding, TAR_END, type TarHeader } from "./_tar.ts";
import { type BuildImageConfig, finalConfig } from "./image_config.ts";

export { applyInstruction, imageConfigFor, startConfig } from "./image_config.ts";
export type { BuildImageConfig, ConfigChange } from "./image_config.ts";

/** An upper directory (or tree) that cannot become a layer. */
export class DiffError extends Error {
  constructor(detail: string) {
    super(`Cannot make the layer: ${detail}`);
    this.name = "DiffError";
  }
}

/** How a directory is read. */
export interface DiffOptions {
  /**
   * `upper`: an overlay upper directory (whiteouts and opaque directories
   * mean deletions); `tree`: plain files (a COPY's fresh directory).
   */
  readonly kind?: "upper" | "tree";
  /** SOURCE_DATE_EPOCH, seconds: later mtimes are clamped to it. */
  readonly epoch?: number;
  /**
   * Entries to leave out with what is below them (a commit leaves out the
   * mount points the runtime made): the path relative to the directory.
   */
  readonly skip?: (path: string, info: Deno.FileInfo) => boolean;
}

/** One entry of the layer: its header and where its content is. */
export interface LayerEntry {
  readonly header: TarHeader;
  /** The host file holding a regular file's content. */
  readonly source?: string;
}

function overlayXattr(path: string, name: string): Uint8Array | undefined {
  for (const prefix of ["trusted.overlay.", "user.overlay."]) {
    try {
      const v = lgetxattr(path, prefix + name);
      if (v !== undefined) return v;
    } catch { /* a file system without xattrs */ }
  }
  return undefined;
}

function devNumbers(rdev: number): [number, number] {
  return [(rdev >>> 8) & 0xfff, (rdev & 0xff) | ((rdev >>> 12) & 0xfff00)];
}

/**
 * The entries of a layer made from `dir`, depth first in name order (the
 * directory itself is not one). Throws DiffError.
 */
export function* layerEntries(dir: string, opts: DiffOptions = {}): Generator<LayerEntry> {
  const upper = (opts.kind ?? "upper") === "upper";
  const links = new Map<string, string>();
  const time = (info: Deno.FileInfo) => {
    const s = Math.floor((info.mtime?.getTime() ?? 0) / 1000);
    return opts.epoch !== undefined && s > opts.epoch ? opts.epoch : s;
  };
  function* walk(rel: string): Generator<LayerEntry> {
    const host = rel === "" ? dir : `${dir}/${rel}`;
    const names = [...Deno.readDirSync(host)].map((e) => e.name).sort();
    for (const name of names) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const hostPath = `${dir}/${path}`;
      const info = Deno.lstatSync(hostPath);
      if (opts.skip?.(path, info)) continue;
      const base = {
        mode: (info.mode ?? 0) & 0o7777,
        uid: info.uid ?? 0,
        gid: info.gid ?? 0,
        mtime: time(info),
        size: 0,
      };
      if (upper && info.isCharDevice && info.rdev === 0) {
        yield {
          header: {
            ...base,
            name: (rel === "" ? "" : `${rel}/`) + WHITEOUT_PREFIX + name,
            type: "file",
            mode: 0o600,
          },
        };
        continue;
      }
      if (upper) {
        if (overlayXattr(hostPath, "metacopy") !== undefined) {
          throw new DiffError(
            `${path} is an overlay metacopy entry: mount the overlay with metacopy=off`,
          );
        }
        if (info.isDirectory && overlayXattr(hostPath, "redirect") !== undefined) {
          throw new DiffError(
            `${path} is a renamed overlay directory: mount the overlay with redirect_dir=off`,
          );
        }
      }
      const xattrs = contentXattrs(hostPath);
      if (info.isDirectory) {
        yield { header: { ...base, name: `${path}/`, type: "dir", xattrs } };
        const opaque = overlayXattr(hostPath, "opaque");
        if (upper && opaque?.length === 1 && opaque[0] === 0x79) {
          yield {
            header: {
              ...base,
              name: `${path}/${OPAQUE_MARKER}`,
              type: "file",
              mode: base.mode & 0o777,
            },
          };
        }
        yield* walk(path);
      } else if (info.isFile) {
        const key = `${info.dev}:${info.ino}`;
        const first = (info.nlink ?? 1) > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          yield { header: { ...base, name: path, type: "link", linkname: first, xattrs } };
          continue;
        }
        if ((info.nlink ?? 1) > 1) links.set(key, path);
        yield {
          header: { ...base, name: path, type: "file", size: info.size, xattrs },
          source: hostPath,
        };
      } else if (info.isSymlink) {
        yield {
          header: {
            ...base,
            name: path,
            type: "symlink",
            linkname: Deno.readLinkSync(hostPath),
            xattrs,
          },
        };
      } else if (info.isCharDevice || info.isBlockDevice) {
        const [devmajor, devminor] = devNumbers(info.rdev ?? 0);
        yield {
          header: {
            ...base,
            name: path,
            type: info.isCharDevice ? "char" : "block",
            devmajor,
            devminor,
            xattrs,
          },
        };
      } else if (info.isFifo) {
        yield { header: { ...base, name: path, type: "fifo", xattrs } };
      }
      // Sockets are not carried by layers.
    }
  }
  yield* walk("");
}

const CHUNK = 1 << 20;
/** Files up to this size are read whole. */
const WHOLE_FILE = 1 << 20;

/** The uncompressed tar of a layer, as a stream of chunks. */
export function layerTar(dir: string, opts: DiffOptions = {}): ReadableStream<Uint8Array> {
  function* chunks(): Generator<Uint8Array> {
    for (const e of layerEntries(dir, opts)) {
      const header = encodeHeader(e.header);
      if (!e.source) {
        yield header;
        continue;
      }
      const size = e.header.size;
      const pad = padding(size);
      if (size <= WHOLE_FILE) {
        // Small files (most of a layer) in one chunk with their header: fewer, larger writes.
        const data = Deno.readFileSync(e.source);
        if (data.length !== size) throw new DiffError(`${e.header.name} changed while it was read`);
        const out = new Uint8Array(header.length + size + pad.length);
        out.set(header, 0);
        out.set(data, header.length);
        yield out;
        continue;
      }
      yield header;
      const f = Deno.openSync(e.source);
      let left = size;
      try {
        while (left > 0) {
          const buf = new Uint8Array(Math.min(CHUNK, left));
          const n = f.readSync(buf);
          if (n === null || n === 0) {
            throw new DiffError(`${e.header.name} shrank while it was read`);
          }
          yield n === buf.length ? buf : buf.subarray(0, n);
          left -= n;
        }
      } finally {
        f.close();
      }
      if (pad.length > 0) yield pad;
    }
    yield TAR_END;
  }
  return ReadableStream.from(chunks());
}

/** A layer written to the store. */
export interface LayerResult {
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  readonly diffId: Digest;
  /** sha256 of the gzip blob (the manifest's layer digest). */
  readonly digest: Digest;
  /** Bytes of the gzip blob. */
  readonly size: number;
  /** Bytes of the tar. */
  readonly tarSize: number;
  readonly mediaType: string;
}

/** The layer's descriptor for a manifest. */
export function layerDescriptor(l: LayerResult): Descriptor {
  return { mediaType: l.mediaType, digest: l.digest, size: l.size };
}

/** Options of writeLayer. */
export interface WriteLayerOptions extends DiffOptions {
  /** Also extract it into the store's layer directory (default true). */
  readonly extract?: boolean;
}

/**
 * Makes a layer of `dir` (an upper directory, or a tree with kind "tree"),
 * gzips it into the store and (by default) extracts it as a layer directory
 * the next step can stack. Holds the store's content lock while it writes;
 * the caller keeps the layer from garbage collection until an image or the
 * build cache refers to it (run the build inside store.ingest()).
 */
export async function writeLayer(
  store: Store,
  dir: string,
  opts: WriteLayerOptions = {},
): Promise<LayerResult> {
  return await store.ingest(async () => {
    const tarHash = new Hasher();
    const tap = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        tarHash.update(chunk);
        ctl.enqueue(chunk);
      },
    });
    const gz = layerTar(dir, opts)
      .pipeThrough(tap)
      .pipeThrough(
        new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
      );
    const blob = await store.putBlob(gz);
    const diffId = tarHash.digest();
    if (opts.extract ?? true) await store.ensureLayer(diffId, blob.digest);
    return {
      diffId,
      digest: blob.digest,
      size: blob.size,
      tarSize: tarHash.size,
      mediaType: MEDIA.ociLayerGzip,
    };
  });
}

/**
 * Docker's layer media types as an OCI manifest names the same bytes: a
 * base image pulled as Docker schema 2 keeps its blobs in an OCI image.
 */
const OCI_LAYER_TYPE: Readonly<Record<string, string>> = {
  [MEDIA.dockerLayer]: MEDIA.ociLayer,
  [MEDIA.dockerLayerGzip]: MEDIA.ociLayerGzip,
  [MEDIA.dockerForeignLayerGzip]: MEDIA.ociLayerNdGzip,
};

/** What writeImage needs. */
export interface ImageParts {
  /** The finished config (image_config.ts), its diff_ids matching `layers`. */
  readonly config: BuildImageConfig;
  /** Layer descriptors, bottom first: the base image's, then the build's. */
  readonly layers: readonly Descriptor[];
  /** Full references to point at the image (`docker.io/library/app:latest`). */
  readonly names?: readonly string[];
  /** The config's `created` (RFC 3339). */
  readonly created?: string;
}

/**
 * Stores the config and an OCI manifest for it (Docker layer media types
 * become their OCI names) and registers the image under `names`. Returns
 * the record (its `config` is the image ID).
 */
export async function writeImage(store: Store, parts: ImageParts): Promise<ImageRecord> {
  const config = finalConfig(parts.config, parts.created);
  if (config.rootfs.diff_ids.length !== parts.layers.length) {
    throw new DiffError(
      `the config has ${config.rootfs.diff_ids.length} diff_ids for ${parts.layers.length} layers`,
    );
  }
  const enc = new TextEncoder();
  return await store.ingest(async () => {
    const configBytes = enc.encode(JSON.stringify(config));
    const c = await store.putBlobBytes(configBytes, { digest: sha256(configBytes) });
    const manifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: c.digest, size: c.size },
      layers: parts.layers.map((l) => ({
        mediaType: OCI_LAYER_TYPE[l.mediaType] ?? l.mediaType,
        digest: l.digest,
        size: l.size,
      })),
    };
    const m = await store.putBlobBytes(enc.encode(JSON.stringify(manifest)));
    return await registerImage(store, m.digest, parts.names ?? [], MEDIA.ociManifest);
  });
}
