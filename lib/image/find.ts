/**
 * Reading the store's images as stored: finding one by name, ID or digest,
 * resolving it to what a container needs (its manifest, config and layer
 * directories), listing them and inspecting one. Kept apart from images.ts
 * so that these load no schema library and no node:crypto: what they read was
 * checked when it was stored, and its bytes are hashed again on reading.
 * @module
 */

import { type Digest, hexOf } from "./digest.ts";
import {
  familiarRepository,
  familiarString,
  formatReference,
  normalizeReference,
  parseReference,
  type Reference,
} from "./reference.ts";
import type { ImageConfig, Manifest } from "./schema.ts";
import type { ImageRecord, Store, StoreIndex } from "./store.ts";
import { compareStrings } from "../os/order.ts";

/** An image that is not in the store. */
export class NoSuchImageError extends Error {
  constructor(ref: string) {
    super(`No such image: ${ref}`);
    this.name = "NoSuchImageError";
  }
}

/** An image found in the index, and the name it was found by. */
export interface Found {
  readonly record: ImageRecord;
  /** The full reference, when found by name. */
  readonly name?: string;
  /** Every record that matched (several when an ID names images sharing a config). */
  readonly all: readonly ImageRecord[];
}

const HEX_PREFIX = /^(?:sha256:)?([a-f0-9]{1,64})$/;

/**
 * Finds an image by name (`busybox`, `localhost/app:1`), by `name@digest`,
 * by ID (config digest, full or a unique prefix of at least 3 digits) or by
 * manifest digest.
 */
export function findImage(index: StoreIndex, ref: string): Found | undefined {
  const records = Object.values(index.images);
  let parsed: Reference | undefined;
  try {
    parsed = normalizeReference(ref);
  } catch { /* an ID, or nothing */ }
  if (parsed?.digest) {
    const rec = index.images[parsed.digest];
    return rec && { record: rec, all: [rec] };
  }
  if (parsed) {
    const name = formatReference(parsed);
    const d = index.names[name];
    if (d && index.images[d]) return { record: index.images[d], name, all: [index.images[d]] };
  }
  const m = ref.match(HEX_PREFIX);
  if (!m || (m[1].length < 3 && !ref.startsWith("sha256:"))) return undefined;
  const byConfig = records.filter((r) => hexOf(r.config).startsWith(m[1]));
  const configs = new Set(byConfig.map((r) => r.config));
  if (configs.size > 1) throw new Error(`The image ID ${ref} is ambiguous: give more digits`);
  if (byConfig.length > 0) {
    byConfig.sort((a, b) => compareStrings(b.loaded, a.loaded));
    return { record: byConfig[0], all: byConfig };
  }
  const byManifest = records.filter((r) => hexOf(r.digest).startsWith(m[1]));
  if (byManifest.length > 1) throw new Error(`The digest ${ref} is ambiguous: give more digits`);
  return byManifest[0] && { record: byManifest[0], all: byManifest };
}

/** findImage, or NoSuchImageError. */
export function mustFind(index: StoreIndex, ref: string): Found {
  const found = findImage(index, ref);
  if (!found) throw new NoSuchImageError(ref);
  return found;
}

/** The names (full references) of an image, sorted. */
export function namesOf(index: StoreIndex, manifest: Digest): string[] {
  return Object.entries(index.names).filter(([, d]) => d === manifest).map(([n]) => n).sort();
}

/** A JSON blob of the store, parsed as the type it was checked to be when it was stored. */
function storedJson<T>(bytes: Uint8Array): T {
  return JSON.parse(new TextDecoder().decode(bytes)) as T;
}

/** What a container needs of an image. */
export interface ResolvedImage {
  /** The image ID (config digest). */
  readonly id: Digest;
  /** The manifest digest. */
  readonly digest: Digest;
  /** The full reference it was found by, if by name. */
  readonly name?: string;
  readonly manifest: Manifest;
  readonly config: ImageConfig;
  /** Layer directories, top first (duplicates kept at their topmost place only). */
  readonly layers: string[];
  /** Releases the layers' lease (no-op without `lease`). */
  release(): void;
}

/**
 * Resolves a reference to its manifest, config and layer directories (top
 * first, ready for ContainerConfig.layers). With `lease`, the layers are
 * locked against garbage collection until release().
 */
export async function resolveImage(
  store: Store,
  ref: string,
  opts: { lease?: boolean } = {},
): Promise<ResolvedImage> {
  const index = store.readIndex();
  const { record, name } = mustFind(index, ref);
  // Read as stored: each was checked against its schema when it entered the store, and
  // the bytes hash to the digests the index recorded then, so they are what was checked.
  // (Not loading the schemas, zod among them, spares a run ~30 ms; sha256() hashes in
  // JavaScript, not through node:crypto, which would start Deno's Node layer, ~70 more.)
  const manifest = storedJson<Manifest>(store.readBlobCached(record.digest));
  const config = storedJson<ImageConfig>(store.readBlobCached(record.config));
  const top: Digest[] = [];
  for (const d of [...record.layers].reverse()) if (!top.includes(d)) top.push(d);
  for (const d of top) {
    if (!store.hasLayer(d, index)) {
      throw new Error(`The layer ${d} of ${ref} is missing from the store: load the image again`);
    }
  }
  const lease = opts.lease ? await store.leaseLayers(top) : { release() {} };
  return {
    id: record.config,
    digest: record.digest,
    ...(name !== undefined && { name }),
    manifest,
    config,
    layers: top.map((d) => store.layerPath(d)),
    release: () => lease.release(),
  };
}

/** One image, as `ctr images` lists it. */
export interface ImageSummary {
  /** The image ID: the config's digest. */
  readonly id: Digest;
  /** The manifest's digest. */
  readonly digest: Digest;
  /** Full references. */
  readonly names: readonly string[];
  /** Names as docker shows them (`busybox:latest`). */
  readonly tags: readonly string[];
  readonly created?: string;
  /** Uncompressed size of the layers. */
  readonly size: number;
  readonly architecture: string;
  readonly os: string;
  readonly layers: number;
}

/** The images of the store, newest first. */
export function listImages(store: Store): ImageSummary[] {
  const index = store.readIndex();
  return Object.values(index.images).map((r) => {
    const names = namesOf(index, r.digest);
    return {
      id: r.config,
      digest: r.digest,
      names,
      tags: names.map((n) => familiarString(parseReference(n))),
      ...(r.created !== undefined && { created: r.created }),
      size: r.size,
      architecture: r.architecture,
      os: r.os,
      layers: r.layers.length,
    };
  }).sort((a, b) =>
    compareStrings(b.created ?? "", a.created ?? "") || compareStrings(a.id, b.id) ||
    compareStrings(a.digest, b.digest)
  );
}

/**
 * The config of a stored image as it was stored: checked against its schema
 * when it entered the store (a load, pull, build or commit) and hashed again
 * here, as a container's start reads it ({@linkcode resolveImage}):
 * neither zod nor node:crypto is loaded. For the label filter of
 * `ctr images`, `history` and `image inspect`.
 */
export function storedConfig(store: Store, d: Digest): ImageConfig {
  return storedJson<ImageConfig>(store.readBlobCached(d));
}

/** Details of one image, as `ctr image inspect` prints them. */
export function inspectImage(store: Store, ref: string): Record<string, unknown> {
  const index = store.readIndex();
  const { record } = mustFind(index, ref);
  const config = storedConfig(store, record.config);
  const names = namesOf(index, record.digest).map((n) => parseReference(n));
  return {
    Id: record.config,
    RepoTags: names.map(familiarString),
    RepoDigests: [...new Set(names.map((n) => `${familiarRepository(n)}@${record.digest}`))],
    Manifest: record.digest,
    MediaType: record.mediaType,
    Comment: (config as { comment?: string }).comment ?? "",
    Created: config.created,
    Author: config.author,
    Architecture: config.architecture,
    Variant: config.variant,
    Os: config.os,
    Size: record.size,
    Config: config.config ?? {},
    RootFS: { Type: "layers", Layers: record.layers },
    LayerDirs: [...record.layers].reverse().map((d) => store.layerPath(d)),
    History: config.history ?? [],
  };
}
