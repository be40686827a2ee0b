/**
 * The build cache: a step whose inputs are the same as a step already built
 * reuses that step's layer instead of running again.
 *
 * A step's key hashes what decides its result: its parent (the previous
 * step's key, or the base image's ID for the first step), the instruction
 * as it runs (after substitution, as its history line reads), the build
 * arguments it sees, for COPY/ADD the digest of what it reads (context.ts
 * copyDigest: paths, modes, owners, contents), for RUN --mount the identity
 * of each mount, and the platform. Metadata-only steps need no entry: their
 * key is computed and chained on.
 *
 *     ROOT/build-cache/sha256/<key hex>.json   one entry: the step's layer
 *
 * An entry is trusted only while its layer is in the store (extracted and
 * its blob present): a lookup that finds the layer gone drops the entry, and
 * prune() drops every such entry (call it after image prune and rmi, whose
 * garbage collection deletes layers no image uses). Entries keep no layer
 * alive by themselves; a garbage collection that should spare them passes
 * layers() as keepLayers. `--no-cache` opens the cache disabled: nothing is found,
 * results are still recorded.
 * @module
 */

import { checkDigest, type Digest, hexOf, isDigest, sha256 } from "../digest.ts";
import { type Store, writeFileAtomic } from "../store.ts";
import type { RunMount } from "./dockerfile.ts";

/** What a step's cache key is made of. */
export interface StepKeyInput {
  /** The previous step's key, or the base image's ID (`scratch` for none) for a stage's first step. */
  readonly parent: string;
  /** The instruction as it runs, substituted (its history line). */
  readonly instruction: string;
  /** Build arguments the step sees (declared ARGs with their values). */
  readonly args?: Readonly<Record<string, string>>;
  /** COPY/ADD: the digest of what it reads (copyDigest). */
  readonly content?: string;
  /** RUN --mount: each mount's identity (mountIdentity). */
  readonly mounts?: readonly string[];
  /** The platform the stage builds for (`linux/amd64`). */
  readonly platform?: string;
}

/** The key of a step: sha256 of its inputs in a fixed encoding. */
export function stepKey(input: StepKeyInput): Digest {
  const args = Object.entries(input.args ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return sha256(JSON.stringify([
    "ctr-build-v1",
    input.parent,
    input.instruction,
    args,
    input.content ?? "",
    [...(input.mounts ?? [])],
    input.platform ?? "",
  ]));
}

/**
 * The identity of a RUN mount for the cache key: what it mounts, not what
 * the mount later holds (a cache mount's content never invalidates a step).
 * `fromKey` gives the identity of a stage or image a mount reads from (a
 * stage's last key, an image's ID).
 */
export function mountIdentity(m: RunMount, fromKey?: (from: string) => string): string {
  const parts: string[] = [m.type, `target=${m.target ?? ""}`];
  if (m.from !== undefined) parts.push(`from=${fromKey ? fromKey(m.from) : m.from}`);
  if (m.source !== undefined) parts.push(`source=${m.source}`);
  if (m.id !== undefined) parts.push(`id=${m.id}`);
  if (m.type === "cache" && m.sharing) parts.push(`sharing=${m.sharing}`);
  parts.push(m.readOnly ? "ro" : "rw");
  if (m.mode !== undefined) parts.push(`mode=${m.mode.toString(8)}`);
  if (m.uid !== undefined) parts.push(`uid=${m.uid}`);
  if (m.gid !== undefined) parts.push(`gid=${m.gid}`);
  if (m.size !== undefined) parts.push(`size=${m.size}`);
  if (m.env !== undefined) parts.push(`env=${m.env}`);
  if (m.required) parts.push("required");
  return parts.join(",");
}

/** A layer as the cache records it. */
export interface CachedLayer {
  readonly diffId: Digest;
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string;
}

/** One cached step. */
export interface CacheEntry {
  readonly key: Digest;
  /** The layer the step produced. */
  readonly layer: CachedLayer;
  /** The history line the step wrote. */
  readonly createdBy?: string;
  /** The step's history time, so a rebuild gives the same config. */
  readonly created?: string;
  /** When the entry was written. */
  readonly recorded: string;
}

function parseEntry(text: string, key: Digest): CacheEntry | undefined {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const l = v.layer as Record<string, unknown> | undefined;
  if (
    v.key !== key || !l || !isDigest(l.diffId) || !isDigest(l.digest) ||
    typeof l.size !== "number" || typeof l.mediaType !== "string" || typeof v.recorded !== "string"
  ) return undefined;
  return v as unknown as CacheEntry;
}

/** What prune() removed. */
export interface CachePruneResult {
  /** Keys of the entries removed. */
  readonly removed: Digest[];
}

/** The build cache of one store. */
export class BuildCache {
  /** ROOT/build-cache/sha256. */
  readonly dir: string;

  private constructor(readonly store: Store, readonly disabled: boolean) {
    this.dir = `${store.root}/build-cache/sha256`;
  }

  /** Opens the cache of a store; `disabled` (`--no-cache`): lookups find nothing. */
  static open(store: Store, opts: { disabled?: boolean } = {}): BuildCache {
    const c = new BuildCache(store, opts.disabled ?? false);
    Deno.mkdirSync(c.dir, { recursive: true, mode: 0o700 });
    return c;
  }

  #path(key: Digest): string {
    return `${this.dir}/${hexOf(key)}.json`;
  }

  #read(key: Digest): CacheEntry | undefined {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.#path(key));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
    return parseEntry(text, key);
  }

  #alive(e: CacheEntry): boolean {
    return this.store.hasLayer(e.layer.diffId) && this.store.hasBlob(e.layer.digest);
  }

  #drop(key: Digest): void {
    try {
      Deno.removeSync(this.#path(key));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  /**
   * The entry of a step, when its layer is still in the store; an entry
   * whose layer is gone (or that is unreadable) is dropped. Nothing when
   * the cache is disabled.
   */
  get(key: Digest): CacheEntry | undefined {
    if (this.disabled) return undefined;
    checkDigest(key, "cache key");
    const e = this.#read(key);
    if (e && this.#alive(e)) return e;
    this.#drop(key);
    return undefined;
  }

  /** Records a step's result (replacing an older entry of the same key). */
  put(entry: Omit<CacheEntry, "recorded"> & { recorded?: string }): CacheEntry {
    checkDigest(entry.key, "cache key");
    const e: CacheEntry = { ...entry, recorded: entry.recorded ?? new Date().toISOString() };
    writeFileAtomic(this.#path(e.key), new TextEncoder().encode(JSON.stringify(e) + "\n"), 0o600);
    return e;
  }

  /** Every readable entry. */
  entries(): CacheEntry[] {
    const out: CacheEntry[] = [];
    for (const f of Deno.readDirSync(this.dir)) {
      const m = f.name.match(/^([a-f0-9]{64})\.json$/);
      if (!m) continue;
      const e = this.#read(`sha256:${m[1]}`);
      if (e) out.push(e);
    }
    return out;
  }

  /**
   * The layers (diff_ids) the entries name: for a garbage collection that
   * should keep the cache (store.gc's keepLayers), until `prune({ all })`.
   */
  layers(): Digest[] {
    return [...new Set(this.entries().map((e) => e.layer.diffId))];
  }

  /**
   * Drops the entries whose layer is no longer in the store (all of them
   * with `all`), and leftovers of writes interrupted over an hour ago.
   */
  prune(opts: { all?: boolean } = {}): CachePruneResult {
    const removed: Digest[] = [];
    for (const f of Deno.readDirSync(this.dir)) {
      if (f.name.startsWith(".tmp-")) {
        // Another build may be writing it now: only an old one is a leftover.
        const st = Deno.lstatSync(`${this.dir}/${f.name}`);
        if (Date.now() - (st.mtime?.getTime() ?? 0) > 3600_000) {
          Deno.removeSync(`${this.dir}/${f.name}`);
        }
        continue;
      }
      const m = f.name.match(/^([a-f0-9]{64})\.json$/);
      if (!m) continue;
      const key = `sha256:${m[1]}` as Digest;
      const e = this.#read(key);
      if (opts.all || !e || !this.#alive(e)) {
        this.#drop(key);
        removed.push(key);
      }
    }
    return { removed };
  }
}
