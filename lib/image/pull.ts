/**
 * `pull`: an image from a registry into the store, as docker does it. The
 * manifest (through an index, this host's platform or the one asked for) and
 * the config are fetched into memory and verified; the missing layer blobs
 * are downloaded, three at a time, each streamed to a temporary file while
 * it is hashed, and renamed into place only when its digest and size are
 * right; each layer is extracted as soon as its blob is in, side by side
 * with the others on worker threads (lib/image/extract_pool.ts) while the
 * downloads go on; only then are the config and manifest
 * written and the image registered. A failed pull leaves no temporary file,
 * and nothing referenced: only verified layer blobs it finished, which a
 * later pull reuses and garbage collection removes.
 * @module
 */

import { inPool } from "./_pool.ts";
import { withExtraction } from "./extract_pool.ts";
import { allSettledFirstError } from "../os/async.ts";
import { type Digest, Hasher, hexOf, sha256 } from "./digest.ts";
import { registerImage } from "./images.ts";
import {
  formatPlatform,
  hostPlatform,
  type Platform,
  platformMatches,
  selectManifest,
} from "./platform.ts";
import { NO_PROGRESS, type Progress } from "./progress.ts";
import {
  DEFAULT_TAG,
  familiarString,
  formatReference,
  parseReference,
  withDefaultTag,
} from "./reference.ts";
import {
  type ClientOptions,
  readBody,
  RegistryClient,
  RegistryError,
  repositoryScope,
} from "./registry.ts";
import { ImageConfig, Index, Manifest, parseJsonWith } from "./schema.ts";
import { MAX_JSON_BLOB, type Store } from "./store.ts";

/** Options of pullImage. */
export interface PullOptions extends ClientOptions {
  /** The platform to pick from an index (default: this host's). */
  readonly platform?: Platform;
  readonly progress?: Progress;
  /** Layers downloaded at once (default 3). */
  readonly concurrency?: number;
}

/** What a pull did. */
export interface PullResult {
  /** The full reference now naming the image (none when pulled by digest). */
  readonly name?: string;
  /** The digest the reference resolved to (an index's, for a multi-platform image). */
  readonly digest: Digest;
  /** The digest of the image manifest stored. */
  readonly manifest: Digest;
  /** The image ID (config digest). */
  readonly id: Digest;
  /** False when the store already had it all under that name. */
  readonly updated: boolean;
  /** Layer blobs downloaded. */
  readonly downloaded: number;
}

/** The short digest docker shows for a layer: 12 hex digits. */
export function shortDigest(d: Digest): string {
  return hexOf(d).slice(0, 12);
}

interface Blob {
  readonly digest: Digest;
  readonly size: number;
}

function mismatch(what: string, want: Blob, got: Blob | "more"): RegistryError {
  const why = got === "more"
    ? `the registry sent more than the ${want.size} bytes expected`
    : got.digest !== want.digest
    ? `the registry sent content with the digest ${got.digest}`
    : `the registry sent ${got.size} bytes, ${want.size} expected`;
  return new RegistryError(`Cannot pull the ${what} ${want.digest}: digest mismatch: ${why}`);
}

/** Downloads a blob into the store, verified; tried again when the transfer breaks off. */
async function downloadBlob(
  client: RegistryClient,
  store: Store,
  path: string,
  scope: string,
  want: Blob,
  progress: Progress,
  signal: AbortSignal,
): Promise<void> {
  const id = shortDigest(want.digest);
  await client.retry(async () => {
    const res = await client.getBlob(path, want.digest, scope, signal);
    const tmp = store.tempBlobPath();
    const hasher = new Hasher();
    const f = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    const discard = () => {
      f.close();
      Deno.removeSync(tmp);
    };
    try {
      progress.update(id, "Downloading", 0, want.size);
      for await (const chunk of res.body!) {
        hasher.update(chunk);
        if (hasher.size > want.size) {
          throw mismatch("layer", want, "more");
        }
        for (let off = 0; off < chunk.length;) off += await f.write(chunk.subarray(off));
        progress.update(id, "Downloading", hasher.size, want.size);
      }
      await f.syncData();
    } catch (e) {
      discard();
      if (e instanceof RegistryError || signal.aborted) throw e;
      throw new RegistryError(
        `The download of ${want.digest} broke off: ${(e as Error).message}`,
        0,
        true,
      );
    }
    f.close();
    progress.update(id, "Verifying Checksum");
    const got = { digest: hasher.digest(), size: hasher.size };
    if (got.digest !== want.digest || got.size !== want.size) {
      Deno.removeSync(tmp);
      throw mismatch("layer", want, got);
    }
    store.adoptBlob(tmp, got.digest, got.size, want);
    progress.update(id, "Download complete");
  }, signal);
}

/** Fetches a small blob (a config) into memory, verified. */
async function fetchSmallBlob(
  client: RegistryClient,
  path: string,
  scope: string,
  want: Blob,
): Promise<Uint8Array> {
  if (want.size > MAX_JSON_BLOB) {
    throw new RegistryError(`The image config ${want.digest} is too large (${want.size} bytes)`);
  }
  return await client.retry(async () => {
    const res = await client.getBlob(path, want.digest, scope);
    let bytes: Uint8Array;
    try {
      bytes = await readBody(res, want.size, `image config ${want.digest}`);
    } catch (e) {
      // Too large is final; a transfer that broke off is tried again.
      if (e instanceof RegistryError && !e.retryable) throw mismatch("image config", want, "more");
      throw e;
    }
    const got = { digest: sha256(bytes), size: bytes.length };
    if (got.digest !== want.digest || got.size !== want.size) {
      throw mismatch("image config", want, got);
    }
    return bytes;
  });
}

/**
 * Pulls an image (`busybox`, `host:5000/app:1`, `name@sha256:...`) into the
 * store and names it by its reference (unless pulled by digest). Reports to
 * `progress` as docker does, ending with `Digest:` and `Status:` lines.
 */
export async function pullImage(
  store: Store,
  refText: string,
  opts: PullOptions = {},
): Promise<PullResult> {
  const progress = opts.progress ?? NO_PROGRESS;
  const parsed = parseReference(refText);
  const ref = withDefaultTag(parsed);
  if (parsed.tag === undefined && parsed.digest === undefined) {
    progress.line(`Using default tag: ${DEFAULT_TAG}`);
  }
  const shown = familiarString(ref);
  const client = new RegistryClient(ref.domain, opts);
  const scope = repositoryScope(ref.path, ["pull"]);
  const want = opts.platform ?? hostPlatform();
  const reference = ref.digest ?? ref.tag!;
  progress.line(`${reference}: Pulling from ${ref.path}`);

  const top = await client.getManifest(ref.path, reference, scope);
  let m = top;
  if (top.isIndex) {
    const index = parseJsonWith(Index, top.bytes, `image index ${top.digest}`);
    const desc = selectManifest(index, want, `the index of ${shown}`);
    m = await client.getManifest(ref.path, desc.digest, scope);
    if (m.isIndex) throw new RegistryError(`The index of ${shown} points to another index`);
    if (m.bytes.length !== desc.size) {
      throw new RegistryError(
        `The manifest ${m.digest} has ${m.bytes.length} bytes, its index says ${desc.size}`,
      );
    }
  }
  const manifest = parseJsonWith(Manifest, m.bytes, `image manifest ${m.digest}`);
  const configBlob = { digest: manifest.config.digest as Digest, size: manifest.config.size };
  const configBytes = store.hasBlob(configBlob.digest)
    ? store.readBlob(configBlob.digest)
    : await fetchSmallBlob(client, ref.path, scope, configBlob);
  const config = parseJsonWith(ImageConfig, configBytes, `image config ${configBlob.digest}`);
  if (config.os !== "linux") throw new Error(`The image ${shown} is for ${config.os}, not linux`);
  const have = { os: config.os, architecture: config.architecture, variant: config.variant };
  if (!platformMatches(want, have)) {
    progress.line(
      `WARNING: The image's platform (${formatPlatform(have)}) does not match the ` +
        `requested platform (${formatPlatform(want)})`,
    );
  }
  const diffIds = config.rootfs.diff_ids as Digest[];
  if (diffIds.length !== manifest.layers.length) {
    throw new Error(
      `Invalid image ${m.digest}: its config lists ${diffIds.length} diff_ids for ` +
        `${manifest.layers.length} layers`,
    );
  }
  const layers = manifest.layers.map((l, i) => ({
    blob: { digest: l.digest as Digest, size: l.size },
    diffId: diffIds[i],
    id: shortDigest(l.digest as Digest),
  }));

  return await store.ingest(async () => {
    const index = store.readIndex();
    const done = new Set<string>();
    for (const l of layers) {
      if (done.has(l.id)) continue;
      done.add(l.id);
      const present = store.hasBlob(l.blob.digest) && store.hasLayer(l.diffId, index);
      progress.update(l.id, present ? "Already exists" : "Pulling fs layer");
    }
    const fetch = [
      ...new Map(
        layers.filter((l) => !store.hasBlob(l.blob.digest)).map((l) => [l.blob.digest, l]),
      ).values(),
    ];
    const limit = opts.concurrency ?? 3;
    for (const l of fetch.slice(limit)) progress.update(l.id, "Waiting");
    // A failed download stops the extraction; a failed extraction stops the downloads;
    // either way both have settled (no temporary file is being written) before the error
    // goes up.
    const downloaded = new Map(fetch.map((l) => [l.blob.digest, Promise.withResolvers<void>()]));
    for (const d of downloaded.values()) d.promise.catch(() => {}); // awaited below, or moot
    const stop = new AbortController();
    const downloads = inPool(fetch, limit, async (l, signal) => {
      const both = AbortSignal.any([signal, stop.signal]);
      await downloadBlob(client, store, ref.path, scope, l.blob, progress, both);
      downloaded.get(l.blob.digest)!.resolve();
    }).catch((e) => {
      for (const d of downloaded.values()) d.reject(e);
      throw e;
    });
    // Each missing layer is extracted as soon as its blob is in, side by side with the
    // others (on the extraction pool's workers when there are two or more) while the
    // downloads go on.
    const extract = [
      ...new Map(
        layers.filter((l) => !store.hasLayer(l.diffId, index)).map((l) => [l.diffId, l]),
      ).values(),
    ];
    const extraction = withExtraction(
      extract.length,
      (run, pool) =>
        allSettledFirstError(
          extract.map(async (l) => {
            await downloaded.get(l.blob.digest)?.promise;
            progress.update(l.id, "Extracting");
            await store.ensureLayer(l.diffId, l.blob.digest, run);
            progress.update(l.id, "Pull complete");
          }).map((p) =>
            p.catch((e) => {
              // The first failure: layers not yet begun are not begun, the downloads stop.
              pool?.cancelWaiting(e);
              stop.abort(e);
              throw e;
            })
          ),
        ),
    );
    const [got, made] = await Promise.allSettled([downloads, extraction]);
    if (got.status === "rejected") throw got.reason;
    if (made.status === "rejected") throw made.reason;
    if (!store.hasBlob(configBlob.digest)) await store.putBlobBytes(configBytes, configBlob);
    if (!store.hasBlob(m.digest)) await store.putBlobBytes(m.bytes, { digest: m.digest });
    const name = ref.digest ? undefined : formatReference(ref);
    const before = name ? index.names[name] : undefined;
    const record = await registerImage(store, m.digest, name ? [name] : [], m.mediaType);
    const updated = fetch.length > 0 || extract.length > 0 || !index.images[m.digest] ||
      (name !== undefined && before !== m.digest);
    progress.line(`Digest: ${top.digest}`);
    progress.line(
      `Status: ${updated ? "Downloaded newer image" : "Image is up to date"} for ${shown}`,
    );
    return {
      ...(name !== undefined && { name }),
      digest: top.digest,
      manifest: m.digest,
      id: record.config,
      updated,
      downloaded: fetch.length,
    };
  });
}
