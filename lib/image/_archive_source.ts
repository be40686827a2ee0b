/**
 * The files of an image archive, whether it is a tar (any compression) or a
 * directory. A tar is read once: each regular member is staged under a
 * temporary name beside the store's blobs while its digest is computed, so a
 * member that is a blob is moved into place without being read again.
 * Member names never reach the file system: staged files have random names.
 * @module
 */

import type { Digest } from "./digest.ts";
import { Hasher } from "./digest.ts";
import { readTar } from "./layer.ts";
import type { Expected, Store } from "./store.ts";

/** One file of an archive. */
interface Member {
  /** Where its bytes are on this host. */
  path: string;
  size: number;
  /** Known when the member was staged from a tar. */
  digest?: Digest;
  /** Moved into the store's blobs (path is then the blob's). */
  adopted?: boolean;
}

/** The largest JSON member read into memory. */
const MAX_JSON = 16 << 20;

/** Normalizes a member name; undefined when it points outside the archive. */
export function memberName(name: string): string | undefined {
  const parts: string[] = [];
  for (const p of name.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(p);
  }
  return parts.join("/");
}

/** An archive's files, by name. */
export interface ArchiveSource {
  /** Whether the archive has a file by this name. */
  has(name: string): boolean;
  /** A member's bytes (small files only). */
  read(name: string): Uint8Array;
  /** Puts a member into the store as a blob, verified against `expected`. */
  ingest(
    store: Store,
    name: string,
    expected?: Expected,
  ): Promise<{ digest: Digest; size: number }>;
  /** Removes staged files. */
  close(): void;
}

function missing(name: string): Error {
  return new Error(`The archive has no file ${name}`);
}

/** A tar archive, staged. */
class TarSource implements ArchiveSource {
  readonly #members = new Map<string, Member>();
  readonly #links = new Map<string, string>();

  static async stage(store: Store, path: string): Promise<TarSource> {
    const src = new TarSource();
    const file = await Deno.open(path);
    try {
      await readTar(file.readable, async (h, _pax, body) => {
        const name = memberName(h.name);
        if (name === undefined) throw new Error(`The archive has an entry outside it: ${h.name}`);
        if (h.type === "symlink" || h.type === "link") {
          const dir = name.includes("/") ? name.slice(0, name.lastIndexOf("/")) : "";
          const target = h.type === "symlink" && !(h.linkname ?? "").startsWith("/")
            ? memberName(`${dir}/${h.linkname}`)
            : memberName(h.linkname ?? "");
          if (target === undefined) {
            throw new Error(`The archive has a link outside it: ${h.name} -> ${h.linkname}`);
          }
          src.#links.set(name, target);
        }
        if (h.type !== "file" && h.type !== "contiguous-file") {
          for await (const _ of body) { /* no content */ }
          return;
        }
        const tmp = store.tempBlobPath();
        const hasher = new Hasher();
        const f = Deno.openSync(tmp, { write: true, createNew: true, mode: 0o600 });
        src.#stage(name, { path: tmp, size: 0 });
        try {
          for await (const chunk of body) {
            hasher.update(chunk);
            for (let off = 0; off < chunk.length;) off += f.writeSync(chunk.subarray(off));
          }
          f.syncDataSync();
        } finally {
          f.close();
        }
        src.#stage(name, { path: tmp, size: hasher.size, digest: hasher.digest() });
      });
    } catch (e) {
      src.close();
      throw new Error(`Cannot read the archive ${path}: ${(e as Error).message}`);
    }
    return src;
  }

  #stage(name: string, m: Member): void {
    const old = this.#members.get(name);
    if (old && old.path !== m.path) Deno.removeSync(old.path);
    this.#members.set(name, m);
  }

  #get(name: string): Member | undefined {
    let n = memberName(name);
    for (let hops = 0; n !== undefined && hops < 16; hops++) {
      const m = this.#members.get(n);
      if (m) return m;
      n = this.#links.get(n);
    }
    return undefined;
  }

  has(name: string): boolean {
    return this.#get(name) !== undefined;
  }

  read(name: string): Uint8Array {
    const m = this.#get(name);
    if (!m) throw missing(name);
    if (m.size > MAX_JSON) throw new Error(`The archive's ${name} is too large (${m.size} bytes)`);
    return Deno.readFileSync(m.path);
  }

  ingest(store: Store, name: string, expected: Expected = {}) {
    const m = this.#get(name);
    if (!m || !m.digest) throw missing(name);
    if (m.adopted || store.hasBlob(m.digest)) {
      // Already in place: still check what the caller expects.
      return Promise.resolve(store.verifyExpected(m.digest, m.size, expected));
    }
    const r = store.adoptBlob(m.path, m.digest, m.size, expected);
    m.path = store.blobPath(m.digest);
    m.adopted = true;
    return Promise.resolve(r);
  }

  close(): void {
    for (const m of this.#members.values()) {
      if (m.adopted) continue;
      try {
        Deno.removeSync(m.path);
      } catch { /* already gone */ }
    }
    this.#members.clear();
  }
}

/** An archive unpacked in a directory (an OCI image layout, skopeo's dir:). */
class DirSource implements ArchiveSource {
  readonly #root: string;

  constructor(dir: string) {
    this.#root = Deno.realPathSync(dir);
  }

  /** The host path of a member; never outside the directory, even through symlinks. */
  #path(name: string): string | undefined {
    const n = memberName(name);
    if (n === undefined || n === "") return undefined;
    let real: string;
    try {
      real = Deno.realPathSync(`${this.#root}/${n}`);
    } catch {
      return undefined;
    }
    if (!real.startsWith(this.#root + "/")) return undefined;
    return Deno.statSync(real).isFile ? real : undefined;
  }

  has(name: string): boolean {
    return this.#path(name) !== undefined;
  }

  read(name: string): Uint8Array {
    const p = this.#path(name);
    if (!p) throw missing(name);
    const size = Deno.statSync(p).size;
    if (size > MAX_JSON) throw new Error(`The archive's ${name} is too large (${size} bytes)`);
    return Deno.readFileSync(p);
  }

  async ingest(store: Store, name: string, expected: Expected = {}) {
    const p = this.#path(name);
    if (!p) throw missing(name);
    if (expected.digest && store.hasBlob(expected.digest)) {
      return store.verifyExpected(expected.digest, Deno.statSync(p).size, expected);
    }
    const file = await Deno.open(p);
    return await store.putBlob(file.readable, expected);
  }

  close(): void {}
}

/** Opens an archive: a tar file (staged into the store's temporary files) or a directory. */
export async function openArchive(store: Store, path: string): Promise<ArchiveSource> {
  const st = Deno.statSync(path);
  return st.isDirectory ? new DirSource(path) : await TarSource.stage(store, path);
}
