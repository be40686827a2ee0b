/**
 * `ctr builder prune`: the build cache goes (every entry, the directories
 * of RUN --mount=type=cache), with what crashed builds left behind (their
 * step containers' cgroups and directories, their temporary files), and
 * the layers only the cache kept (a garbage collection of the store).
 * @module
 */

import { BuildCache } from "../image/build/cache.ts";
import { removeStaleBuildTemps } from "../image/build/executor.ts";
import type { Digest } from "../image/digest.ts";
import { Store } from "../image/store.ts";
import { withLock } from "../os/lock.ts";
import { removeTree } from "../os/tree.ts";
import { removeStaleBuildSteps } from "./build_step.ts";

/** What pruneBuildCache removed. */
export interface BuildPruneResult {
  /** Cache entries (step keys). */
  readonly entries: Digest[];
  /** Bytes freed: cache mounts, and the layers and blobs garbage collection removed. */
  readonly bytes: number;
  /** Build containers and temporary directories of builds that are gone. */
  readonly leftovers: number;
}

function treeSize(path: string): number {
  let n = 0;
  const st = Deno.lstatSync(path);
  if (st.isDirectory) {
    for (const e of Deno.readDirSync(path)) n += treeSize(`${path}/${e.name}`);
  } else n += st.size;
  return n;
}

/** Removes the build cache of the store in `root` and what failed builds left. */
export async function pruneBuildCache(root: string): Promise<BuildPruneResult> {
  const store = Store.open(root);
  const leftovers = await removeStaleBuildSteps(root) + removeStaleBuildTemps(root);
  const entries = BuildCache.open(store).prune({ all: true }).removed;
  let bytes = 0;
  // A build holds the content lock shared for its whole run: none uses a cache mount now.
  await withLock(`${root}/content.lock`, "exclusive", () => {
    const dir = `${root}/build/cache-mounts`;
    let names: string[] = [];
    try {
      names = [...Deno.readDirSync(dir)].map((e) => e.name);
    } catch { /* none yet */ }
    for (const n of names) {
      bytes += treeSize(`${dir}/${n}`);
      removeTree(`${dir}/${n}`);
    }
  });
  const gc = await store.gc();
  return { entries, bytes: bytes + gc.bytes, leftovers };
}
