/**
 * The extraction worker: a thread of its own that extracts layers from
 * stored blobs, one job at a time, for lib/image/extract_pool.ts.
 *
 * Extraction makes one synchronous system call after another (open, write,
 * chown, chmod, utimes per file) and spends most of its time in the kernel
 * creating files. On the main thread that blocks everything else a pull does
 * (its downloads wait for each layer of small files); in workers, layers are
 * extracted side by side while the downloads go on.
 *
 * The worker is started from the program's own main module when ctr runs
 * from a bundle (main.ts sees it runs as a worker and imports this module),
 * and from this file otherwise.
 * @module
 */

import { extractLayerFile, type LayerInfo } from "./layer.ts";
import type { OwnedEntry } from "../os/privileged.ts";

/** A job: extract the blob file `blob` into the new directory `dir`. */
export interface ExtractJob {
  readonly id: number;
  readonly blob: string;
  readonly dir: string;
  /** ExtractOptions.chown (default: when running as root). */
  readonly chown?: boolean;
  /** ExtractOptions.plain. */
  readonly plain?: boolean;
  /** List the tar's owners instead of applying them (ExtractOptions.owners). */
  readonly listOwners: boolean;
}

/** What became of a job. */
export type ExtractReply =
  | {
    readonly id: number;
    readonly ok: true;
    readonly info: LayerInfo;
    readonly owners: readonly OwnedEntry[];
  }
  | { readonly id: number; readonly ok: false; readonly name: string; readonly message: string };

/** The part of a worker's global scope used here (the program is typed for the main thread). */
interface WorkerScope {
  onmessage: ((e: MessageEvent<ExtractJob>) => void) | null;
  postMessage(reply: ExtractReply): void;
}

const scope = globalThis as unknown as WorkerScope;

scope.onmessage = async (e) => {
  const job = e.data;
  const owners: OwnedEntry[] = [];
  let reply: ExtractReply;
  try {
    const info = await extractLayerFile(job.blob, job.dir, {
      ...(job.chown !== undefined && { chown: job.chown }),
      ...(job.plain && { plain: true }),
      ...(job.listOwners && { owners }),
    });
    reply = { id: job.id, ok: true, info, owners };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    reply = { id: job.id, ok: false, name: error.name, message: error.message };
  }
  scope.postMessage(reply);
};
