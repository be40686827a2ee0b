/**
 * Images in the store: register a loaded manifest, list, tag, untag and
 * remove, prune; finding and resolving (find.ts) are re-exported here. Registries plug in here too: a pull writes blobs with putBlob and
 * calls registerImage.
 * @module
 */

import type { Digest } from "./digest.ts";
import {
  familiarString,
  formatReference,
  normalizeReference,
  parseReference,
} from "./reference.ts";
import { ImageConfig, Manifest, parseJsonWith } from "./schema.ts";
import type { GcResult, ImageRecord, Store } from "./store.ts";
import { mustFind, namesOf } from "./find.ts";
import { withExtraction } from "./extract_pool.ts";
import { allSettledFirstError } from "../os/async.ts";

export {
  findImage,
  type Found,
  type ImageSummary,
  inspectImage,
  listImages,
  mustFind,
  namesOf,
  NoSuchImageError,
  type ResolvedImage,
  resolveImage,
} from "./find.ts";

/** The manifest of a stored image, validated. */
export function readManifest(store: Store, d: Digest): Manifest {
  return parseManifest(store.readBlob(d), d);
}

/** The config of a stored image, validated. */
export function readConfig(store: Store, d: Digest): ImageConfig {
  return parseConfig(store.readBlob(d), d);
}

function parseManifest(bytes: Uint8Array, d: Digest): Manifest {
  return parseJsonWith(Manifest, bytes, `image manifest ${d}`);
}

function parseConfig(bytes: Uint8Array, d: Digest): ImageConfig {
  return parseJsonWith(ImageConfig, bytes, `image config ${d}`);
}

function checkBlob(store: Store, d: Digest, size: number, what: string): void {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(store.blobPath(d));
  } catch {
    throw new Error(`The ${what} ${d} is missing`);
  }
  if (st.size !== size) {
    throw new Error(`The ${what} ${d} has ${st.size} bytes, its descriptor says ${size}`);
  }
}

/**
 * Records an image whose manifest, config and layer blobs are in the store:
 * validates them, extracts missing layers (checked against the config's
 * diff_ids) and points `names` (full references) at it. Call inside
 * store.ingest().
 */
export async function registerImage(
  store: Store,
  manifestDigest: Digest,
  names: readonly string[],
  mediaType?: string,
): Promise<ImageRecord> {
  const manifest = readManifest(store, manifestDigest);
  checkBlob(store, manifest.config.digest as Digest, manifest.config.size, "image config");
  const config = readConfig(store, manifest.config.digest as Digest);
  const what = `image ${manifestDigest}`;
  if (config.os !== "linux") {
    throw new Error(`The ${what} is for ${config.os}: ctr runs linux images`);
  }
  const diffIds = config.rootfs.diff_ids as Digest[];
  if (diffIds.length !== manifest.layers.length) {
    throw new Error(
      `Invalid ${what}: its config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`,
    );
  }
  const blobOf = new Map<Digest, Digest>();
  for (const [i, layer] of manifest.layers.entries()) {
    checkBlob(store, layer.digest as Digest, layer.size, "layer");
    if (!blobOf.has(diffIds[i])) blobOf.set(diffIds[i], layer.digest as Digest);
  }
  // Missing layers are extracted side by side (each into a directory of its own).
  const index = store.readIndex();
  const missing = [...blobOf.keys()].filter((d) => !store.hasLayer(d, index)).length;
  const sizes = new Map<Digest, number>();
  await withExtraction(missing, (extract) =>
    allSettledFirstError(
      [...blobOf].map(async ([diffId, blob]) =>
        sizes.set(diffId, await store.ensureLayer(diffId, blob, extract))
      ),
    ));
  const size = diffIds.reduce((n, d) => n + sizes.get(d)!, 0);
  const record: ImageRecord = {
    digest: manifestDigest,
    mediaType: manifest.mediaType ?? mediaType ?? "application/vnd.oci.image.manifest.v1+json",
    config: manifest.config.digest as Digest,
    layers: diffIds,
    blobs: manifest.layers.map((l) => l.digest as Digest),
    ...(config.created !== undefined && { created: config.created }),
    architecture: config.architecture,
    os: config.os,
    ...(config.variant !== undefined && { variant: config.variant }),
    size,
    loaded: new Date().toISOString(),
  };
  await store.updateIndex((index) => {
    const old = index.images[manifestDigest];
    index.images[manifestDigest] = old ? { ...record, loaded: old.loaded } : record;
    for (const n of names) index.names[n] = manifestDigest;
  });
  return record;
}

/** Points the name `target` at the image `source` names; returns the full target name. */
export async function tagImage(store: Store, source: string, target: string): Promise<string> {
  const ref = normalizeReference(target);
  if (ref.digest) throw new Error(`Cannot tag ${target}: a tag cannot hold a digest`);
  const name = formatReference(ref);
  await store.updateIndex((index) => {
    index.names[name] = mustFind(index, source).record.digest;
  });
  return name;
}

/** What removeImage did. */
export interface RemoveResult {
  /** Names removed (familiar form). */
  readonly untagged: string[];
  /** Images deleted (manifest digests). */
  readonly deleted: Digest[];
  /** Content freed by the garbage collection that followed. */
  readonly gc?: GcResult;
}

/**
 * Removes a name; the image goes when no name is left. By ID or digest, the
 * image goes with all its names, which needs `force` when it has several.
 */
export async function removeImage(
  store: Store,
  ref: string,
  opts: { force?: boolean } = {},
): Promise<RemoveResult> {
  const result = await store.updateIndex((index): RemoveResult => {
    const found = mustFind(index, ref);
    const untagged: string[] = [];
    const deleted: Digest[] = [];
    const drop = (r: ImageRecord) => {
      for (const n of namesOf(index, r.digest)) {
        delete index.names[n];
        untagged.push(familiarString(parseReference(n)));
      }
      delete index.images[r.digest];
      deleted.push(r.digest);
    };
    if (found.name) {
      delete index.names[found.name];
      untagged.push(familiarString(parseReference(found.name)));
      if (namesOf(index, found.record.digest).length === 0) {
        delete index.images[found.record.digest];
        deleted.push(found.record.digest);
      }
      return { untagged, deleted };
    }
    const names = found.all.flatMap((r) => namesOf(index, r.digest));
    if (names.length > 1 && !opts.force) {
      throw new Error(
        `Cannot remove the image ${ref}: it has several names (${
          names.map((n) => familiarString(parseReference(n))).join(", ")
        }); remove them one by one or force`,
      );
    }
    found.all.forEach(drop);
    return { untagged, deleted };
  });
  if (result.deleted.length === 0) return result;
  return { ...result, gc: await store.gc() };
}

/** What prune removed. */
export interface PruneResult extends GcResult {
  /** Images deleted (manifest digests). */
  readonly images: Digest[];
  /** Names removed with them (`all`), as docker prints them. */
  readonly untagged: string[];
}

/**
 * Deletes the content no image references; first, with `untagged`, the
 * images that have no name (docker's dangling images), or with `select`,
 * every image it picks (given whether it has a name), names included
 * (`docker image prune -a`, filters). `keepLayers` protects layers used by
 * containers that are not running.
 */
export async function prune(
  store: Store,
  opts: {
    untagged?: boolean;
    select?: (image: ImageRecord, named: boolean) => boolean;
    keepLayers?: Iterable<Digest>;
  } = {},
): Promise<PruneResult> {
  let images: Digest[] = [];
  const untagged: string[] = [];
  const select = opts.select ??
    (opts.untagged ? (_: ImageRecord, named: boolean) => !named : undefined);
  if (select) {
    images = await store.updateIndex((index) => {
      const named = new Set(Object.values(index.names));
      const gone = Object.entries(index.images).filter(([d, img]) =>
        select(img, named.has(d as Digest))
      ).map(([d]) => d as Digest);
      for (const d of gone) {
        for (const [n, to] of Object.entries(index.names)) {
          if (to !== d) continue;
          delete index.names[n];
          untagged.push(familiarString(parseReference(n)));
        }
        delete index.images[d];
      }
      return gone;
    });
  }
  return { images, untagged, ...(await store.gc({ keepLayers: opts.keepLayers })) };
}
