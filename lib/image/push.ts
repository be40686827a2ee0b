/**
 * `push`: a named image from the store to a registry, as docker does it: the
 * layer blobs (three at a time) and the config first, each skipped when the
 * repository has it already (HEAD) and otherwise uploaded in one PUT, then
 * the manifest, byte for byte as stored, under the tag. The blobs go as
 * stored, so the registry's digests are the store's.
 * @module
 */

import { inPool } from "./_pool.ts";
import type { Digest } from "./digest.ts";
import { NO_PROGRESS, type Progress } from "./progress.ts";
import { shortDigest } from "./pull.ts";
import { familiarString, formatReference, normalizeReference, repository } from "./reference.ts";
import { type ClientOptions, RegistryClient, repositoryScope } from "./registry.ts";
import { Manifest, parseJsonWith } from "./schema.ts";
import type { Store } from "./store.ts";

/** Options of pushImage. */
export interface PushOptions extends ClientOptions {
  readonly progress?: Progress;
  /** Layers uploaded at once (default 3). */
  readonly concurrency?: number;
}

/** What a push did. */
export interface PushResult {
  /** The full reference pushed. */
  readonly name: string;
  /** The manifest's digest. */
  readonly digest: Digest;
  /** The manifest's size in bytes. */
  readonly size: number;
  /** Blobs uploaded (the others were there already). */
  readonly uploaded: number;
}

/**
 * Pushes the image a name (`host:5000/team/app:1`; `latest` when no tag)
 * points to. Reports each layer to `progress` as docker does; docker's last
 * line, `TAG: digest: sha256:... size: N`, is the caller's to print.
 */
export async function pushImage(
  store: Store,
  refText: string,
  opts: PushOptions = {},
): Promise<PushResult> {
  const progress = opts.progress ?? NO_PROGRESS;
  const ref = normalizeReference(refText);
  if (ref.digest || ref.tag === undefined) {
    throw new Error(`Cannot push ${refText}: name a tag, not a digest`);
  }
  const name = formatReference(ref);
  const index = store.readIndex();
  const digest = index.names[name];
  const record = digest && index.images[digest];
  if (!record) {
    throw new Error(`An image does not exist locally with the tag: ${familiarString(ref)}`);
  }
  progress.line(`The push refers to repository [${repository(ref)}]`);
  const bytes = store.readBlob(digest);
  const manifest = parseJsonWith(Manifest, bytes, `image manifest ${digest}`);
  const client = new RegistryClient(ref.domain, opts);
  const scope = repositoryScope(ref.path, ["pull", "push"]);
  let uploaded = 0;

  const upload = async (d: Digest, size: number, id?: string) => {
    const file = store.blobPath(d);
    await client.putBlob(ref.path, d, size, async () => {
      const f = await Deno.open(file);
      let sent = 0;
      return f.readable.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, out) {
            sent += chunk.length;
            if (id) progress.update(id, "Pushing", sent, size);
            out.enqueue(chunk);
          },
        }),
      );
    }, scope);
    uploaded++;
  };

  // As docker lists them: the top layer first.
  const layers = [
    ...new Map(
      [...manifest.layers].reverse().map((l) => [l.digest, {
        digest: l.digest as Digest,
        size: l.size,
        id: shortDigest(l.digest as Digest),
      }]),
    ).values(),
  ];
  const limit = opts.concurrency ?? 3;
  for (const l of layers) progress.update(l.id, "Preparing");
  for (const l of layers.slice(limit)) progress.update(l.id, "Waiting");
  await inPool(layers, limit, async (l) => {
    if (await client.hasBlob(ref.path, l.digest, scope)) {
      progress.update(l.id, "Layer already exists");
      return;
    }
    await upload(l.digest, l.size, l.id);
    progress.update(l.id, "Pushed");
  });
  const config = manifest.config;
  if (!await client.hasBlob(ref.path, config.digest as Digest, scope)) {
    await upload(config.digest as Digest, config.size);
  }
  const mediaType = manifest.mediaType ?? record.mediaType;
  const pushed = await client.putManifest(ref.path, ref.tag, bytes, mediaType, scope);
  return { name, digest: pushed, size: bytes.length, uploaded };
}
