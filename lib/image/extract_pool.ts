/**
 * Layers extracted side by side: a pool of worker threads
 * (lib/image/extract_worker.ts), each extracting one stored blob at a time.
 *
 * A layer of small files costs mostly the kernel's work of creating them,
 * made by synchronous calls that hold the thread making them. A pull that
 * extracts on its main thread stops downloading while it extracts, and
 * extracts its layers one after the other; with the pool, every layer whose
 * blob is in is extracted at once, up to the pool's size, while the other
 * blobs still download. A job's result is what extractLayer returns in this
 * thread, its failure the same message (the worker removes what it made).
 *
 * A worker is started from this module's own file when ctr runs from its
 * sources (or a compiled file, which keeps them), and from the program's
 * main module in a bundle, which has no file per module: main.ts, started as
 * a worker, imports the worker module instead of running the command line.
 * @module
 */

import type { ExtractJob, ExtractReply } from "./extract_worker.ts";
import type { ExtractOptions, LayerInfo } from "./layer.ts";
import { trace } from "../trace.ts";
import { exists } from "../../ffi/sys.ts";
import { removeTree } from "../os/tree.ts";

/** Extracts the blob file `blob` into `dir`, which must not exist yet (see extractLayer). */
export type ExtractFile = (blob: string, dir: string, opts?: ExtractOptions) => Promise<LayerInfo>;

/**
 * In this thread. The tar reader (an npm module on Node's compatibility
 * layer) is loaded here, by the first extraction: it costs a run of a stored
 * image ~60 ms to load, and only extraction needs it.
 */
export const extractHere: ExtractFile = async (blob, dir, opts) =>
  await (await import("./layer.ts")).extractLayerFile(blob, dir, opts);

/** How many workers are worth starting for `jobs` layers on this machine. */
export function poolSize(jobs: number): number {
  return Math.max(0, Math.min(jobs, navigator.hardwareConcurrency || 1, 4));
}

/**
 * Runs `fn` with the extraction for `jobs` layers: a pool's when there are two
 * or more (ended when `fn` settles, which must wait for its jobs), this
 * thread's otherwise.
 */
export async function withExtraction<T>(
  jobs: number,
  fn: (extract: ExtractFile, pool?: ExtractPool) => Promise<T>,
): Promise<T> {
  if (jobs < 2) return await fn(extractHere);
  const pool = new ExtractPool(poolSize(jobs));
  try {
    return await fn(pool.extract, pool);
  } finally {
    pool.close();
  }
}

/** The worker's module: its own file from sources, the program's main module from a bundle. */
function workerModule(): string {
  const here = import.meta.url;
  return /\.ts$/.test(here) ? new URL("./extract_worker.ts", here).href : Deno.mainModule;
}

interface Job {
  readonly blob: string;
  readonly dir: string;
  readonly opts: ExtractOptions;
  readonly resolve: (info: LayerInfo) => void;
  readonly reject: (e: Error) => void;
}

/** A worker and the job it is on. */
interface Slot {
  readonly worker: Worker;
  job?: Job & { readonly id: number };
}

/** A pool of extraction workers; `close()` it when done. */
export class ExtractPool {
  readonly #size: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #closed = false;
  /** Set when a worker failed to run: later jobs run in this thread. */
  #broken?: string;
  /** Jobs a worker ran, and jobs run in this thread because the workers failed. */
  readonly counts = { workers: 0, here: 0 };

  readonly #module: string;

  /**
   * `size` workers, started on the next turn of the event loop (or by the
   * first jobs, if sooner): a worker takes tens of milliseconds to load its
   * code, which a pull's first downloads hide, but creating one holds this
   * thread for several, so the requests made meanwhile go out first.
   * `module` is the worker's (default: extract_worker.ts, or the main
   * module of a bundle).
   */
  constructor(size: number, module = workerModule()) {
    this.#size = Math.max(1, size);
    this.#module = module;
    setTimeout(() => {
      while (!this.#closed && !this.#broken && this.#slots.length < this.#size) this.#start();
    }, 0);
  }

  /** Extracts on a worker as soon as one is free (an ExtractFile). */
  readonly extract: ExtractFile = (blob, dir, opts = {}) => {
    if (this.#closed) return Promise.reject(new Error("the extraction pool is closed"));
    if (this.#broken) return this.#here(blob, dir, opts);
    return new Promise<LayerInfo>((resolve, reject) => {
      this.#queue.push({ blob, dir, opts, resolve, reject });
      this.#dispatch();
    });
  };

  /** Jobs not yet begun fail with `error`; those on a worker go on. */
  cancelWaiting(error: Error): void {
    for (const j of this.#queue.splice(0)) j.reject(error);
  }

  /** Ends the workers; jobs still waiting fail. */
  close(): void {
    this.#closed = true;
    for (const s of this.#slots) s.worker.terminate();
    this.#slots.length = 0;
    for (const j of this.#queue.splice(0)) j.reject(new Error("the extraction pool is closed"));
  }

  #here(blob: string, dir: string, opts: ExtractOptions): Promise<LayerInfo> {
    this.counts.here++;
    return extractHere(blob, dir, opts);
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => !s.job);
      if (!slot && this.#slots.length < this.#size) slot = this.#start();
      if (!slot) return;
      const job = { ...this.#queue.shift()!, id: this.#nextId++ };
      slot.job = job;
      const message: ExtractJob = {
        id: job.id,
        blob: job.blob,
        dir: job.dir,
        ...(job.opts.chown !== undefined && { chown: job.opts.chown }),
        ...(job.opts.plain && { plain: true }),
        listOwners: job.opts.owners !== undefined,
      };
      slot.worker.postMessage(message);
    }
  }

  #start(): Slot {
    const worker = new Worker(this.#module, { type: "module", name: "ctr-extract" });
    const slot: Slot = { worker };
    this.#slots.push(slot);
    trace(`extract: worker ${this.#slots.length} started`);
    worker.onmessage = (e: MessageEvent<ExtractReply>) => {
      const job = slot.job;
      if (!job || e.data.id !== job.id) return;
      slot.job = undefined;
      this.counts.workers++;
      const r = e.data;
      if (r.ok) {
        job.opts.owners?.push(...r.owners);
        job.resolve(r.info);
      } else {
        const error = new Error(r.message);
        error.name = r.name;
        job.reject(error);
      }
      this.#dispatch();
    };
    // A worker that cannot run (its module does not load) ends with an error event and
    // replies to nothing: jobs waiting and any later ones run here instead. Its own job
    // runs here too if the worker had not begun its directory; if it had (an error
    // escaped the extraction, which replies with its failures), the job fails and what
    // the worker made goes: an uncaught error ends a worker, it writes no more.
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#broken ??= e.message;
      trace(`extract: a worker failed (${e.message}); extracting in this thread`);
      worker.terminate();
      this.#slots.splice(this.#slots.indexOf(slot), 1);
      const job = slot.job;
      slot.job = undefined;
      if (job && exists(job.dir)) {
        removeTree(job.dir);
        job.reject(
          new Error(`Cannot extract the layer: the extraction worker failed: ${e.message}`),
        );
      } else if (job) this.#queue.unshift(job);
      for (const j of this.#queue.splice(0)) {
        this.#here(j.blob, j.dir, j.opts).then(j.resolve, j.reject);
      }
    };
    return slot;
  }
}
