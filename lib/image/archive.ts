/**
 * Image archives: `load` reads a `docker save` tar (manifest.json, config
 * JSON, layer tars), an OCI image layout (oci-layout, index.json,
 * blobs/sha256/...) as a tar or a directory, or a skopeo `dir:` directory;
 * `save` writes a docker-save tar that is also an OCI image layout, as
 * modern docker does, so `docker load`, skopeo's `docker-archive:` and
 * `oci-archive:` transports and ctr all read it.
 * @module
 */

import { type ArchiveSource, openArchive } from "./_archive_source.ts";
import { loadTarStream } from "./layer.ts";
import { detectCompression } from "./compression.ts";
import { hostPlatform } from "./platform.ts";
import { type Digest, hexOf } from "./digest.ts";
import { findImage, readManifest, registerImage } from "./images.ts";
import {
  familiarRepository,
  familiarString,
  formatReference,
  normalizeReference,
  parseReference,
} from "./reference.ts";
import {
  type Descriptor,
  DockerSaveManifest,
  Index,
  INDEX_TYPES,
  Manifest,
  MANIFEST_TYPES,
  MEDIA,
  OciLayout,
  parseJsonWith,
} from "./schema.ts";
import type { Store } from "./store.ts";

/** One image an archive held. */
export interface LoadedImage {
  /** The manifest digest. */
  readonly digest: Digest;
  /** The image ID (config digest). */
  readonly id: Digest;
  /** Its names, as docker shows them. */
  readonly names: readonly string[];
}

/** What load found. */
export interface LoadResult {
  readonly format: "docker-save" | "oci-layout" | "skopeo-dir";
  readonly images: readonly LoadedImage[];
  /** Entries skipped (other platforms, non-image manifests). */
  readonly warnings: readonly string[];
}

/** Options of loadArchive. */
export interface LoadOptions {
  /** A name for images that come without one. */
  readonly name?: string;
}

const ANN_CONTAINERD_NAME = "io.containerd.image.name";
const ANN_REF_NAME = "org.opencontainers.image.ref.name";

function fullName(ref: string): string {
  return formatReference(normalizeReference(ref));
}

class Loader {
  readonly images: LoadedImage[] = [];
  readonly warnings: string[] = [];

  constructor(readonly store: Store, readonly src: ArchiveSource, readonly opts: LoadOptions) {}

  async #register(digest: Digest, names: string[], mediaType?: string): Promise<void> {
    if (names.length === 0 && this.opts.name) names = [fullName(this.opts.name)];
    const record = await registerImage(this.store, digest, names, mediaType);
    const shown = names.map((n) => familiarString(parseReference(n)));
    const i = this.images.findIndex((x) => x.digest === digest);
    if (i === -1) this.images.push({ digest, id: record.config, names: shown });
    else this.images[i] = { ...this.images[i], names: [...this.images[i].names, ...shown] };
  }

  /** Brings an image's blobs in by digest from `blob(digest)` names, then registers it. */
  async #manifest(
    desc: { digest: Digest; size?: number; mediaType?: string },
    names: string[],
    blobName: (d: Digest) => string,
    manifestName = blobName(desc.digest),
  ): Promise<void> {
    await this.src.ingest(this.store, manifestName, desc);
    const m = readManifest(this.store, desc.digest);
    await this.src.ingest(this.store, blobName(m.config.digest as Digest), {
      digest: m.config.digest as Digest,
      size: m.config.size,
    });
    for (const l of m.layers) {
      await this.src.ingest(this.store, blobName(l.digest as Digest), {
        digest: l.digest as Digest,
        size: l.size,
      });
    }
    await this.#register(desc.digest, names, desc.mediaType);
  }

  /** docker-save: manifest.json lists config and layer files; the manifest is made here. */
  async dockerSave(): Promise<void> {
    const entries = parseJsonWith(
      DockerSaveManifest,
      this.src.read("manifest.json"),
      "manifest.json",
    );
    for (const e of entries) {
      const config = await this.src.ingest(this.store, e.Config);
      const layers: Descriptor[] = [];
      for (const path of e.Layers) {
        const blob = await this.src.ingest(this.store, path);
        const head = new Uint8Array(4);
        const f = Deno.openSync(this.store.blobPath(blob.digest));
        const n = f.readSync(head) ?? 0;
        f.close();
        const c = detectCompression(head.subarray(0, n));
        const mediaType = c === "gzip"
          ? MEDIA.ociLayerGzip
          : c === "zstd"
          ? MEDIA.ociLayerZstd
          : MEDIA.ociLayer;
        layers.push({ mediaType, digest: blob.digest, size: blob.size });
      }
      const manifest = {
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        config: { mediaType: MEDIA.ociConfig, digest: config.digest, size: config.size },
        layers,
      };
      const m = await this.store.putBlobBytes(new TextEncoder().encode(JSON.stringify(manifest)));
      await this.#register(m.digest, (e.RepoTags ?? []).map(fullName), MEDIA.ociManifest);
    }
  }

  /** Names for an OCI index entry: containerd's annotation, a full ref.name, or docker's RepoTags. */
  #ociNames(desc: Descriptor, repoTags: Map<string, string[]>, config: () => Digest): string[] {
    const ann = desc.annotations ?? {};
    if (ann[ANN_CONTAINERD_NAME]) return [fullName(ann[ANN_CONTAINERD_NAME])];
    const ref = ann[ANN_REF_NAME];
    if (ref && /[/:]/.test(ref)) {
      try {
        return [fullName(ref)];
      } catch { /* a tag only, or not a reference */ }
    }
    return repoTags.get(config()) ?? [];
  }

  /** Picks this host's manifest out of a multi-platform index. */
  #pick(index: Index, what: string): Descriptor | undefined {
    const host = hostPlatform();
    const fits = index.manifests.filter((m) =>
      MANIFEST_TYPES.includes(m.mediaType) && m.platform?.os === host.os &&
      m.platform.architecture === host.architecture
    );
    const images = index.manifests.filter((m) => MANIFEST_TYPES.includes(m.mediaType));
    if (fits.length === 0 && images.length === 1 && !images[0].platform) return images[0];
    if (fits.length === 0) {
      const have = index.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`);
      this.warnings.push(`${what}: no image for ${host.os}/${host.architecture} (has ${have})`);
      return undefined;
    }
    return fits.find((m) => m.platform?.variant === undefined || m.platform.variant === "v8") ??
      fits[0];
  }

  /** OCI image layout: index.json lists manifests (or indexes) by digest. */
  async ociLayout(): Promise<void> {
    const layout = parseJsonWith(OciLayout, this.src.read("oci-layout"), "oci-layout");
    if (!layout.imageLayoutVersion.startsWith("1.")) {
      throw new Error(`Unsupported OCI layout version ${layout.imageLayoutVersion}`);
    }
    const index = parseJsonWith(Index, this.src.read("index.json"), "index.json");
    const blob = (d: Digest) => `blobs/sha256/${hexOf(d)}`;
    // docker's own archives also carry manifest.json: its RepoTags name the images.
    const repoTags = new Map<string, string[]>();
    if (this.src.has("manifest.json")) {
      try {
        const entries = parseJsonWith(DockerSaveManifest, this.src.read("manifest.json"), "x");
        for (const e of entries) {
          const m = e.Config.match(/([a-f0-9]{64})(?:\.json)?$/);
          if (m && e.RepoTags) repoTags.set(`sha256:${m[1]}`, e.RepoTags.map(fullName));
        }
      } catch { /* not docker's: ignore */ }
    }
    for (const desc of index.manifests) {
      let target: Descriptor | undefined = desc;
      if (INDEX_TYPES.includes(desc.mediaType)) {
        const d = desc.digest as Digest;
        await this.src.ingest(this.store, blob(d), { digest: d, size: desc.size });
        const inner = parseJsonWith(Index, this.store.readBlob(d), `image index ${d}`);
        target = this.#pick(inner, `index ${d}`);
        if (!target) continue;
      } else if (!MANIFEST_TYPES.includes(desc.mediaType)) {
        this.warnings.push(`${desc.digest}: skipped ${desc.mediaType}`);
        continue;
      }
      const t = target;
      const config = () => {
        const m = parseJsonWith(Manifest, this.src.read(blob(t.digest as Digest)), "manifest");
        return m.config.digest as Digest;
      };
      const names = this.#ociNames(desc, repoTags, config);
      await this.#manifest(
        { digest: t.digest as Digest, size: t.size, mediaType: t.mediaType },
        names,
        blob,
      );
    }
  }

  /** skopeo's dir: transport: manifest.json is the manifest, blobs are named by their hex. */
  async skopeoDir(): Promise<void> {
    const m = await this.src.ingest(this.store, "manifest.json");
    await this.#manifest(m, [], (d) => hexOf(d), "manifest.json");
  }
}

/**
 * Loads every image of an archive (tar file or directory) into the store and
 * names them as the archive does. Blobs and layers are verified against their
 * digests; a failure leaves nothing referenced.
 */
export async function loadArchive(
  store: Store,
  path: string,
  opts: LoadOptions = {},
): Promise<LoadResult> {
  return await store.ingest(async () => {
    const src = await openArchive(store, path);
    try {
      const loader = new Loader(store, src, opts);
      let format: LoadResult["format"];
      if (src.has("oci-layout") && src.has("index.json")) {
        format = "oci-layout";
        await loader.ociLayout();
      } else if (src.has("manifest.json") && src.has("version") && !src.has("repositories")) {
        format = "skopeo-dir";
        await loader.skopeoDir();
      } else if (src.has("manifest.json")) {
        format = "docker-save";
        await loader.dockerSave();
      } else {
        throw new Error(
          `${path} is not an image archive: it has neither manifest.json nor oci-layout and index.json`,
        );
      }
      if (loader.images.length === 0) {
        throw new Error(`${path} holds no image for this host: ${loader.warnings.join("; ")}`);
      }
      return { format, images: loader.images, warnings: loader.warnings };
    } finally {
      src.close();
    }
  });
}

/** One file to write into a saved archive. */
type SaveEntry =
  | { readonly name: string; readonly data: Uint8Array }
  | { readonly name: string; readonly file: string; readonly size: number };

async function writeTar(entries: readonly SaveEntry[], out: string): Promise<void> {
  const tmp = `${out}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const tar = await loadTarStream();
  const f = Deno.openSync(tmp, { write: true, createNew: true, mode: 0o644 });
  const pack = tar.pack();
  const mtime = new Date(0); // as docker save: reproducible archives
  const produce = async () => {
    for (const dir of ["blobs/", "blobs/sha256/"]) {
      pack.entry({ name: dir, type: "directory", mode: 0o755, mtime });
    }
    for (const e of entries) {
      if ("data" in e) {
        pack.entry({ name: e.name, size: e.data.length, mode: 0o644, mtime }, e.data);
        continue;
      }
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ name: e.name, size: e.size, mode: 0o644, mtime }, (err) => {
          if (err) reject(err);
          else resolve();
        });
        (async () => {
          const src = await Deno.open(e.file);
          for await (const chunk of src.readable) {
            if (!sink.write(chunk)) await new Promise<void>((r) => sink.once("drain", () => r()));
          }
          sink.end(undefined);
        })().catch(reject);
      });
    }
    pack.finalize();
  };
  const consume = async () => {
    for await (const chunk of pack as AsyncIterable<Uint8Array>) {
      for (let off = 0; off < chunk.length;) off += f.writeSync(chunk.subarray(off));
    }
  };
  try {
    await Promise.all([produce(), consume()]);
    f.syncDataSync();
    f.close();
  } catch (e) {
    f.close();
    Deno.removeSync(tmp);
    throw e;
  }
  Deno.renameSync(tmp, out);
}

/**
 * Saves images to a tar at `out` (written under a temporary name, then
 * renamed). An image given by name keeps that name; by ID, it goes unnamed.
 */
export async function saveArchive(
  store: Store,
  refs: readonly string[],
  out: string,
): Promise<void> {
  if (refs.length === 0) throw new Error("No image to save");
  const index = store.readIndex();
  const images = new Map<Digest, string[]>();
  for (const ref of refs) {
    const found = findImage(index, ref);
    if (!found) throw new Error(`No such image: ${ref}`);
    const names = images.get(found.record.digest) ?? [];
    if (found.name && !names.includes(found.name)) names.push(found.name);
    images.set(found.record.digest, names);
  }
  const blobs = new Map<Digest, SaveEntry & { size: number }>();
  const addBlob = (d: Digest) => {
    const file = store.blobPath(d);
    blobs.set(d, { name: `blobs/sha256/${hexOf(d)}`, file, size: Deno.statSync(file).size });
  };
  const ociManifests: Descriptor[] = [];
  const dockerManifest: unknown[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const [digest, names] of images) {
    const record = index.images[digest];
    const m = readManifest(store, digest);
    for (
      const d of [
        digest,
        m.config.digest as Digest,
        ...m.layers.map((l) => l.digest as Digest),
      ]
    ) {
      addBlob(d);
    }
    const desc = { mediaType: record.mediaType, digest, size: blobs.get(digest)!.size };
    if (names.length === 0) ociManifests.push(desc);
    const refs = names.map((n) => parseReference(n));
    for (const r of refs) {
      ociManifests.push({
        ...desc,
        annotations: { [ANN_CONTAINERD_NAME]: formatReference(r), [ANN_REF_NAME]: r.tag ?? "" },
      });
      const top = m.layers.at(-1);
      if (r.tag && top) {
        (repositories[familiarRepository(r)] ??= {})[r.tag] = hexOf(top.digest as Digest);
      }
    }
    dockerManifest.push({
      Config: `blobs/sha256/${hexOf(m.config.digest as Digest)}`,
      RepoTags: refs.length ? refs.map(familiarString) : null,
      Layers: m.layers.map((l) => `blobs/sha256/${hexOf(l.digest as Digest)}`),
    });
  }
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v) + "\n");
  await writeTar([
    ...blobs.values(),
    {
      name: "index.json",
      data: json({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: ociManifests }),
    },
    { name: "manifest.json", data: json(dockerManifest) },
    { name: "oci-layout", data: json({ imageLayoutVersion: "1.0.0" }) },
    { name: "repositories", data: json(repositories) },
  ], out);
}
