/**
 * The local image store: content-addressed blobs, layers extracted once by
 * their diff_id, and an index of names and images.
 *
 *     ROOT/blobs/sha256/<hex>         manifests, configs, layer blobs (as pulled or loaded)
 *     ROOT/layers/sha256/<hex>/       a layer's files, by diff_id: an overlay lower dir
 *     ROOT/images.json                the index: images, names → manifest digest, layers
 *     ROOT/images.lock                flock: held exclusively while the index is rewritten
 *     ROOT/content.lock               flock: shared while content is added or leased,
 *                                     exclusive while garbage is collected
 *
 * Blobs are written to `.tmp-*` names in their own directory, verified
 * against their digest while they stream, flushed, then renamed; layers are
 * extracted into `.tmp-*` directories, checked against their diff_id, then
 * renamed and recorded. Whatever an interrupted run leaves is under a `.tmp-`
 * name or missing from the index, so nothing later trusts it, and
 * garbage collection removes it. The index is replaced atomically: readers
 * need no lock. A running container holds a shared flock on each of its
 * layer directories; garbage collection never deletes a locked one.
 * @module
 */

import { exists } from "../../ffi/sys.ts";
import { type ExtractFile, extractHere } from "./extract_pool.ts";
import { randomHex } from "../config/names.ts";
import { removeTree } from "../os/tree.ts";
import { type OwnedEntry, privilegedHelper } from "../os/privileged.ts";
import { type Digest, Hasher, hexOf, isDigest, sha256 } from "./digest.ts";
import { FileLock, withLock } from "../os/lock.ts";

/** Largest JSON blob (manifest, index, config) ctr reads into memory. */
export const MAX_JSON_BLOB = 16 << 20;

/**
 * Small blobs (manifests, configs) this process has read and checked, by
 * store and digest: at most CHECKED_BLOBS of at most CHECKED_BLOB_MAX bytes.
 */
const checkedBlobs = new Map<string, Uint8Array>();
const CHECKED_BLOBS = 64;
const CHECKED_BLOB_MAX = 64 << 10;

/** What the index knows about one image. */
export interface ImageRecord {
  /** The manifest's digest: the image's identity in the store. */
  digest: Digest;
  /** The manifest's media type. */
  mediaType: string;
  /** The config's digest: the image ID docker shows. */
  config: Digest;
  /** diff_ids, bottom layer first (as in the config). */
  layers: Digest[];
  /** Layer blob digests, in the same order. */
  blobs: Digest[];
  created?: string;
  architecture: string;
  os: string;
  variant?: string;
  /** Uncompressed size of the layers, in bytes. */
  size: number;
  /** When the image entered the store. */
  loaded: string;
}

/** The store's index (images.json). */
export interface StoreIndex {
  version: 1;
  images: Record<string, ImageRecord>;
  names: Record<string, Digest>;
  layers: Record<string, { size: number }>;
}

// The index's shape, checked by hand rather than with zod: every command that reads the
// store reads the index, and loading zod costs a run of an image ~30 ms.
type Check = (v: unknown, at: string) => string | undefined;
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);
const firstProblem = (problems: Iterable<string | undefined>) => {
  for (const p of problems) if (p !== undefined) return p;
};
const str: Check = (v, at) => typeof v === "string" ? undefined : `${at}: expected a string`;
const num: Check = (v, at) =>
  typeof v === "number" && Number.isFinite(v) ? undefined : `${at}: expected a number`;
const dig: Check = (v, at) => isDigest(v) ? undefined : `${at}: expected a sha256 digest`;
const optional = (c: Check): Check => (v, at) => v === undefined ? undefined : c(v, at);
const list = (c: Check): Check => (v, at) =>
  Array.isArray(v) ? firstProblem(v.map((x, i) => c(x, `${at}.${i}`))) : `${at}: expected a list`;
const fields = (shape: Record<string, Check>): Check => (v, at) =>
  isObject(v)
    ? firstProblem(Object.entries(shape).map(([k, c]) => c(v[k], at ? `${at}.${k}` : k)))
    : `${at || "the index"}: expected an object`;
const record = (c: Check): Check => (v, at) =>
  isObject(v)
    ? firstProblem(Object.entries(v).map(([k, x]) => c(x, `${at}.${k}`)))
    : `${at}: expected an object`;
const IMAGE_RECORD = fields({
  digest: dig,
  mediaType: str,
  config: dig,
  layers: list(dig),
  blobs: list(dig),
  created: optional(str),
  architecture: str,
  os: str,
  variant: optional(str),
  size: num,
  loaded: str,
});
const INDEX_FILE = fields({
  version: (v, at) => v === 1 ? undefined : `${at}: expected 1`,
  images: record(IMAGE_RECORD),
  names: record(dig),
  layers: record(fields({ size: num })),
});

const EMPTY_INDEX = (): StoreIndex => ({ version: 1, images: {}, names: {}, layers: {} });

function writeAllSync(f: Deno.FsFile, data: Uint8Array): void {
  for (let off = 0; off < data.length;) off += f.writeSync(data.subarray(off));
}

/** Writes a file through a temporary name in the same directory, flushed, then renamed. */
export function writeFileAtomic(path: string, data: Uint8Array, mode = 0o644): void {
  const slash = path.lastIndexOf("/");
  const tmp = `${path.slice(0, slash)}/.tmp-${path.slice(slash + 1)}-${randomHex(8)}`;
  const f = Deno.openSync(tmp, { write: true, createNew: true, mode });
  try {
    writeAllSync(f, data);
    f.syncDataSync();
  } catch (e) {
    f.close();
    Deno.removeSync(tmp);
    throw e;
  }
  f.close();
  Deno.renameSync(tmp, path);
}

/** What to expect of a blob being written. */
export interface Expected {
  readonly digest?: Digest;
  readonly size?: number;
}

/** What garbage collection removed or kept. */
export interface GcResult {
  /** Blobs deleted. */
  readonly blobs: Digest[];
  /** Layers deleted. */
  readonly layers: Digest[];
  /** Unreferenced layers kept because a container uses them. */
  readonly busy: Digest[];
  /** Bytes freed (blob sizes plus uncompressed layer sizes). */
  readonly bytes: number;
}

/** A content-addressed image store in one directory. */
export class Store {
  /** The store's directory. */
  readonly root: string;

  private constructor(root: string) {
    this.root = root;
  }

  /** Opens (creating when needed) the store in `root`. */
  static open(root: string): Store {
    const s = new Store(root.replace(/\/+$/, "") || "/");
    Deno.mkdirSync(s.root, { recursive: true, mode: 0o711 });
    for (const [d, mode] of [["blobs", 0o700], ["layers", 0o711]] as const) {
      Deno.mkdirSync(`${s.root}/${d}/sha256`, { recursive: true, mode });
    }
    return s;
  }

  /** Where a blob is kept. */
  blobPath(d: Digest): string {
    return `${this.root}/blobs/sha256/${hexOf(d)}`;
  }

  /**
   * Layers that containers of this store were made on (each container's
   * directory records them): a detached or stopped container holds no lease,
   * and `start` needs its layers again.
   */
  #containerLayers(): Digest[] {
    const out: Digest[] = [];
    const prefix = `${this.root}/layers/sha256/`;
    let dirs: Deno.DirEntry[];
    try {
      dirs = [...Deno.readDirSync(`${this.root}/containers`)];
    } catch {
      return out;
    }
    for (const d of dirs) {
      try {
        const paths = JSON.parse(
          Deno.readTextFileSync(`${this.root}/containers/${d.name}/layers.json`),
        ) as string[];
        for (const p of paths) {
          if (p.startsWith(prefix)) out.push(`sha256:${p.slice(prefix.length)}` as Digest);
        }
      } catch { /* not a container directory, or one being made */ }
    }
    return out;
  }

  /** The directory of an extracted layer. */
  layerPath(diffId: Digest): string {
    return `${this.root}/layers/sha256/${hexOf(diffId)}`;
  }

  /** A fresh temporary name beside the blobs (same file system: renamed into place). */
  tempBlobPath(): string {
    return `${this.root}/blobs/sha256/.tmp-${randomHex(8)}`;
  }

  /** Whether a blob is present. */
  hasBlob(d: Digest): boolean {
    return exists(this.blobPath(d));
  }

  /**
   * Runs `fn` while holding the content lock shared: garbage collection waits,
   * so blobs and layers added before they are referenced by the index survive.
   */
  async ingest<T>(fn: () => Promise<T>): Promise<T> {
    return await withLock(`${this.root}/content.lock`, "shared", fn);
  }

  /**
   * Writes a blob from a stream, hashing it as it goes; with `expected` the
   * digest and size must match, else nothing is kept. Returns what was
   * written. Call inside ingest(), as every writer of content must.
   */
  async putBlob(
    source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    expected: Expected = {},
  ): Promise<{ digest: Digest; size: number }> {
    const tmp = this.tempBlobPath();
    const hasher = new Hasher();
    const f = Deno.openSync(tmp, { write: true, createNew: true, mode: 0o600 });
    try {
      for await (const chunk of source) {
        hasher.update(chunk);
        if (expected.size !== undefined && hasher.size > expected.size) {
          throw new Error(`Blob ${expected.digest ?? ""} is larger than ${expected.size} bytes`);
        }
        writeAllSync(f, chunk);
      }
      f.syncDataSync();
    } catch (e) {
      f.close();
      Deno.removeSync(tmp);
      throw e;
    }
    f.close();
    return this.adoptBlob(tmp, hasher.digest(), hasher.size, expected);
  }

  /** Writes a blob held in memory. */
  putBlobBytes(
    data: Uint8Array,
    expected: Expected = {},
  ): Promise<{ digest: Digest; size: number }> {
    return this.putBlob(ReadableStream.from([data]), expected);
  }

  /**
   * Moves a temporary file (from tempBlobPath) whose digest and size were
   * computed from its bytes into place; removes it when they are not what was
   * expected.
   */
  adoptBlob(
    tmp: string,
    got: Digest,
    size: number,
    expected: Expected = {},
  ): { digest: Digest; size: number } {
    try {
      this.verifyExpected(got, size, expected);
    } catch (e) {
      Deno.removeSync(tmp);
      throw e;
    }
    Deno.chmodSync(tmp, 0o644);
    Deno.renameSync(tmp, this.blobPath(got));
    return { digest: got, size };
  }

  /** Checks a blob's digest and size against what was expected; throws when they differ. */
  verifyExpected(
    got: Digest,
    size: number,
    expected: Expected = {},
  ): { digest: Digest; size: number } {
    const bad = expected.digest !== undefined && expected.digest !== got
      ? `has the digest ${got}`
      : expected.size !== undefined && expected.size !== size
      ? `has ${size} bytes, ${expected.size} expected`
      : undefined;
    if (bad) throw new Error(`Blob ${expected.digest ?? got} is corrupt: it ${bad}`);
    return { digest: got, size };
  }

  /** Reads a (small) blob into memory, checking its digest. */
  readBlob(d: Digest, max = MAX_JSON_BLOB): Uint8Array {
    const data = this.#readSmallBlob(d, max);
    if (sha256(data) !== d) throw new Error(`Blob ${d} is corrupt in the store`);
    return data;
  }

  /**
   * readBlob through a cache of blobs already checked in this process: what
   * reads a stored image's manifest and config (a container's start, a
   * listing, an inspect).
   */
  readBlobCached(d: Digest, max = MAX_JSON_BLOB): Uint8Array {
    // A blob checked once is known by its digest: a server starting many containers of one
    // image reads and hashes its manifest and config once (a copy each time: callers own it).
    const known = checkedBlobs.get(`${this.root}\0${d}`);
    if (known) return known.slice();
    const data = this.readBlob(d, max);
    if (data.length <= CHECKED_BLOB_MAX) {
      if (checkedBlobs.size >= CHECKED_BLOBS) {
        checkedBlobs.delete(checkedBlobs.keys().next().value!);
      }
      checkedBlobs.set(`${this.root}\0${d}`, data.slice());
    }
    return data;
  }

  #readSmallBlob(d: Digest, max: number): Uint8Array<ArrayBuffer> {
    try {
      const st = Deno.statSync(this.blobPath(d));
      if (st.size > max) throw new Error(`Blob ${d} is too large to read (${st.size} bytes)`);
      return Deno.readFileSync(this.blobPath(d));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new Error(`Blob ${d} is missing from the store`);
      throw e;
    }
  }

  /** Opens a blob as a stream. */
  async openBlob(d: Digest): Promise<ReadableStream<Uint8Array>> {
    try {
      return (await Deno.open(this.blobPath(d))).readable;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new Error(`Blob ${d} is missing from the store`);
      throw e;
    }
  }

  /** The index as it is now (replaced atomically by writers: no lock needed). */
  readIndex(): StoreIndex {
    let text: string;
    try {
      text = Deno.readTextFileSync(`${this.root}/images.json`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return EMPTY_INDEX();
      throw e;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new Error(`The image index ${this.root}/images.json is not JSON`);
    }
    const problem = INDEX_FILE(value, "");
    if (problem) throw new Error(`Invalid image index ${this.root}/images.json: ${problem}`);
    return value as StoreIndex;
  }

  /** Changes the index under its lock: `fn` edits the current index, which is then written. */
  async updateIndex<T>(fn: (index: StoreIndex) => T): Promise<T> {
    return await withLock(`${this.root}/images.lock`, "exclusive", () => {
      const index = this.readIndex();
      const result = fn(index);
      const text = JSON.stringify(index, null, 2) + "\n";
      writeFileAtomic(`${this.root}/images.json`, new TextEncoder().encode(text));
      return result;
    });
  }

  /** Whether a layer is extracted and recorded. */
  hasLayer(diffId: Digest, index = this.readIndex()): boolean {
    return index.layers[diffId] !== undefined && exists(this.layerPath(diffId));
  }

  /**
   * Makes sure the layer `diffId` is extracted, from the blob `blob` when it
   * is not yet: into a temporary directory, checked against the diff_id,
   * renamed and recorded. Call inside ingest(). Returns the uncompressed size.
   * `extract` does the extraction (default: in this thread; an ExtractPool's
   * on a worker).
   */
  async ensureLayer(
    diffId: Digest,
    blob: Digest,
    extract: ExtractFile = extractHere,
  ): Promise<number> {
    const known = this.readIndex().layers[diffId];
    if (known && exists(this.layerPath(diffId))) return known.size;
    if (!this.hasBlob(blob)) throw new Error(`Blob ${blob} is missing from the store`);
    const tmp = `${this.root}/layers/sha256/.tmp-${randomHex(8)}`;
    // Without privileges the owners go to the helper that has them over the user's ids.
    const helper = Deno.uid() === 0 ? undefined : privilegedHelper();
    const owners: OwnedEntry[] = [];
    const info = await extract(this.blobPath(blob), tmp, helper ? { owners } : {});
    if (info.diffId !== diffId) {
      removeTree(tmp);
      throw new Error(
        `Layer ${blob} has the diff_id ${info.diffId}, but the image config says ${diffId}`,
      );
    }
    if (helper && owners.length > 0) {
      let warnings: string[];
      try {
        warnings = helper.chown(tmp, owners);
      } catch (e) {
        removeTree(tmp);
        throw new Error(`Cannot give layer ${diffId} its owners: ${(e as Error).message}`);
      }
      for (const w of warnings) console.error(`ctr: warning: layer ${diffId.slice(7, 19)}: ${w}`);
    }
    const final = this.layerPath(diffId);
    await this.updateIndex((index) => {
      if (index.layers[diffId] && exists(final)) {
        removeTree(tmp); // extracted meanwhile by another load
        return;
      }
      if (exists(final)) {
        // Left by an interrupted run before it was recorded: not trusted.
        const aside = `${this.root}/layers/sha256/.tmp-${randomHex(8)}`;
        Deno.renameSync(final, aside);
        removeTree(aside);
      }
      Deno.renameSync(tmp, final);
      index.layers[diffId] = { size: info.size };
    });
    return info.size;
  }

  /**
   * Deletes what no image references: blobs, layers (except those a running
   * container holds), and leftovers of interrupted runs. Waits for loads in
   * progress. `keepLayers` protects more layers (e.g. those of stopped containers).
   */
  async gc(opts: { keepLayers?: Iterable<Digest> } = {}): Promise<GcResult> {
    return await withLock(`${this.root}/content.lock`, "exclusive", async () => {
      const index = this.readIndex();
      const blobs = new Set<string>();
      const layers = new Set<string>([...(opts.keepLayers ?? []), ...this.#containerLayers()]);
      for (const img of Object.values(index.images)) {
        blobs.add(img.digest);
        blobs.add(img.config);
        for (const b of img.blobs) blobs.add(b);
        for (const l of img.layers) layers.add(l);
      }
      const result = {
        blobs: [] as Digest[],
        layers: [] as Digest[],
        busy: [] as Digest[],
        bytes: 0,
      };
      const blobDir = `${this.root}/blobs/sha256`;
      for (const e of Deno.readDirSync(blobDir)) {
        const path = `${blobDir}/${e.name}`;
        if (e.name.startsWith(".tmp-")) {
          Deno.removeSync(path, { recursive: true });
          continue;
        }
        const d = `sha256:${e.name}` as Digest;
        if (blobs.has(d)) continue;
        result.bytes += Deno.lstatSync(path).size;
        Deno.removeSync(path);
        result.blobs.push(d);
      }
      const layerDir = `${this.root}/layers/sha256`;
      for (const e of Deno.readDirSync(layerDir)) {
        const path = `${layerDir}/${e.name}`;
        if (e.name.startsWith(".tmp-")) {
          removeTree(path);
          continue;
        }
        const d = `sha256:${e.name}` as Digest;
        if (layers.has(d)) continue;
        const lock = e.isDirectory ? FileLock.try(path, "exclusive", true) : undefined;
        if (e.isDirectory && !lock) {
          result.busy.push(d);
          continue;
        }
        const aside = `${layerDir}/.tmp-${randomHex(8)}`;
        Deno.renameSync(path, aside);
        lock?.release();
        removeTree(aside);
        result.bytes += index.layers[d]?.size ?? 0;
        result.layers.push(d);
      }
      await this.updateIndex((idx) => {
        // Under the index lock no index write is in progress: a .tmp- file here is a leftover.
        for (const f of Deno.readDirSync(this.root)) {
          if (f.name.startsWith(".tmp-images.json-")) Deno.removeSync(`${this.root}/${f.name}`);
        }
        for (const l of Object.keys(idx.layers)) {
          if (!exists(this.layerPath(l as Digest))) delete idx.layers[l];
        }
      });
      return result;
    });
  }

  /**
   * Takes shared locks on layer directories for as long as a container uses
   * them; garbage collection leaves them alone until release().
   */
  async leaseLayers(diffIds: readonly Digest[]): Promise<{ release(): void }> {
    return await withLock(`${this.root}/content.lock`, "shared", () => {
      const locks: FileLock[] = [];
      try {
        for (const d of diffIds) {
          const lock = FileLock.try(this.layerPath(d), "shared", true);
          if (!lock) throw new Error(`Layer ${d} is being deleted`);
          locks.push(lock);
        }
      } catch (e) {
        for (const l of locks) l.release();
        if ((e as { code?: string }).code === "ENOENT") {
          throw new Error(`A layer is missing from the store: load the image again`);
        }
        throw e;
      }
      return { release: () => locks.forEach((l) => l.release()) };
    });
  }
}
