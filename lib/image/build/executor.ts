/**
 * `ctr build`'s executor: a Dockerfile and a context in, an image in the
 * store out.
 *
 * The Dockerfile is parsed and its build graph made (only the stages the
 * target needs are built); the base images are found in the store, or
 * pulled when missing (always with `pull`), all before the first step; then
 * every needed stage starts at once and waits for the stages it needs
 * (its base, COPY --from, RUN --mount from=), so independent stages build
 * side by side. A stage runs its steps in order (_stage.ts): RUN in a
 * container of the engine's (the injected StepRunner), COPY/ADD/WORKDIR
 * into a fresh directory, each filesystem step one layer, skipped when the
 * build cache knows its key. The target's config and layers become the
 * image, named by the tags.
 *
 * The whole build runs inside store.ingest(): garbage collection waits, so
 * no layer goes before an image or a cache entry names it. Its temporary
 * files live in `ROOT/build/tmp/` and are removed when it ends, failed or
 * not; a step that fails (or an interrupt: the signal) stops the other
 * stages, and their containers are killed and removed before build()
 * returns.
 * @module
 */

import type { Digest } from "../digest.ts";
import { NoSuchImageError, resolveImage } from "../images.ts";
import { humanSize, type Progress } from "../progress.ts";
import { formatPlatform, hostPlatform, type Platform } from "../platform.ts";
import { formatReference, normalizeReference } from "../reference.ts";
import type { Descriptor, ImageConfig } from "../schema.ts";
import type { Store } from "../store.ts";
import { isAlive, processStartTime } from "../../os/proc.ts";
import { trace } from "../../trace.ts";
import { removeTree } from "../../os/tree.ts";
import { BuildCache } from "./cache.ts";
import { BuildContext, type FetchFn, FileHashCache, LayeredRoot } from "./context.ts";
import { writeImage } from "./diff.ts";
import { DockerfileError, type Instruction, parseDockerfile, parseTriggers } from "./dockerfile.ts";
import { finalConfig, startConfig } from "./image_config.ts";
import type { BuildProgress } from "./progress.ts";
import { type BuildGraph, buildGraph, StageScope } from "./stages.ts";
import {
  BuildError,
  type FromSource,
  interrupted,
  layerDirs,
  type RunNetwork,
  StageBuild,
  type StageEnv,
  type StageResult,
  type StepRunner,
} from "./_stage.ts";

export { BuildError, EMPTY_LAYER } from "./_stage.ts";
export type { RunNetwork, RunRequest, StepRunner } from "./_stage.ts";

/** What to build. */
export interface BuildOptions {
  readonly store: Store;
  /** The context directory (a tar context is unpacked first). */
  readonly context: string;
  /** The Dockerfile: its text, its name in messages, its host path (for its own .dockerignore). */
  readonly dockerfile: { readonly text: string; readonly name?: string; readonly path?: string };
  /** Full references to name the image. */
  readonly tags?: readonly string[];
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly target?: string;
  /** Run every step again (results are still recorded). */
  readonly noCache?: boolean;
  /** Pull base images even when the store has them. */
  readonly pull?: boolean;
  /** The network of RUN steps (default none: lo only). */
  readonly network?: RunNetwork;
  /** Labels for the image. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
  readonly progress: BuildProgress;
  readonly runner: StepRunner;
  /**
   * Pulls an image into the store; returns what to find it by. Without
   * it, a base image missing from the store is an error.
   */
  readonly pullImage?: (
    ref: string,
    opts: { platform?: Platform; progress: Progress },
  ) => Promise<string>;
  /** ADD's downloads (default: fetch). */
  readonly fetch?: FetchFn;
  /** Aborting interrupts the build. */
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
}

/** What a build made. */
export interface BuildResult {
  /** The image ID (its config's digest). */
  readonly id: Digest;
  /** The manifest's digest. */
  readonly digest: Digest;
  /** The names now pointing at it. */
  readonly names: readonly string[];
}

/** A base image (FROM, COPY --from, RUN --mount from=) found in the store. */
interface BaseImage {
  /** How progress names it (`docker.io/library/busybox:latest`). */
  readonly name: string;
  readonly id: Digest;
  readonly config: ImageConfig;
  readonly layers: readonly Descriptor[];
  /** Whether this build pulled it. */
  readonly pulled: boolean;
}

/** Where a build's temporary files go. */
export function buildTempRoot(root: string): string {
  return `${root}/build/tmp`;
}

/** A fresh temporary directory for one build, marked with its owner (for removeStaleBuildTemps). */
export function makeBuildTemp(root: string): string {
  const dir = buildTempRoot(root);
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = Deno.makeTempDirSync({ dir, prefix: `${Deno.pid}-` });
  Deno.writeTextFileSync(
    `${tmp}/.owner`,
    JSON.stringify({ pid: Deno.pid, startTime: processStartTime(Deno.pid) ?? 0 }) + "\n",
  );
  return tmp;
}

/** Removes the temporary directories of builds whose ctr is gone; returns how many. */
export function removeStaleBuildTemps(root: string): number {
  let n = 0;
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(buildTempRoot(root))];
  } catch {
    return 0;
  }
  for (const e of entries) {
    const dir = `${buildTempRoot(root)}/${e.name}`;
    try {
      const owner = JSON.parse(Deno.readTextFileSync(`${dir}/.owner`));
      if (isAlive(owner)) continue;
    } catch { /* no owner: a leftover of a crash */ }
    removeTree(dir);
    n++;
  }
  return n;
}

function displayName(ref: string): string {
  try {
    return formatReference(normalizeReference(ref));
  } catch {
    return ref;
  }
}

/** The value of `key` in `map`, made by `make` the first time. */
function memo<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

/** A pull's progress as lines of a vertex: one per layer state. */
function vertexProgress(log: (text: string) => void): Progress {
  const last = new Map<string, string>();
  return {
    line: log,
    update(id, status) {
      if (last.get(id) === status) return;
      last.set(id, status);
      log(`${id}: ${status}`);
    },
  };
}

/**
 * Gives history entries without a time (config-only steps) one, as
 * BuildKit's exporter does: the entries before the first timed one after a
 * gap take that one's time, later ones the time of the entry before them.
 * Pure.
 */
export function fillHistoryTimes<T extends { created?: string }>(history: readonly T[]): T[] {
  let created: string | undefined;
  let missing = false;
  for (const h of history) {
    if (h.created !== undefined) {
      created = h.created;
      if (missing) break;
    } else missing = true;
  }
  missing = false;
  return history.map((h) => {
    if (h.created !== undefined) {
      if (missing) created = h.created;
      return h;
    }
    missing = true;
    return created === undefined ? h : { ...h, created };
  });
}

/** Builds an image; throws BuildError (its message names the file, line and instruction). */
export async function build(opts: BuildOptions): Promise<BuildResult> {
  return await new Builder(opts).run();
}

class Builder {
  readonly file: string;
  readonly abort = new AbortController();
  readonly #stages = new Map<number, Promise<StageResult>>();
  readonly #images = new Map<string, Promise<BaseImage>>();
  #graph!: BuildGraph;
  #context?: BuildContext;
  #tmp = "";
  #failure?: unknown;

  constructor(readonly o: BuildOptions) {
    this.file = o.dockerfile.name ?? "Dockerfile";
    o.signal?.addEventListener("abort", () => this.abort.abort());
    if (o.signal?.aborted) this.abort.abort();
  }

  #parse(): BuildGraph {
    const v = this.o.progress.vertex(`[internal] load build definition from ${this.file}`);
    v.log(
      `transferring dockerfile: ${
        humanSize(new TextEncoder().encode(this.o.dockerfile.text).length)
      } done`,
    );
    try {
      const df = parseDockerfile(this.o.dockerfile.text, { file: this.file });
      const graph = buildGraph(df, {
        ...(this.o.buildArgs && { buildArgs: this.o.buildArgs }),
        ...(this.o.target !== undefined && { target: this.o.target }),
        ...(this.o.platform && { targetPlatform: this.o.platform }),
        file: this.file,
      });
      v.done();
      for (const w of graph.warnings) this.o.progress.warn(w);
      return graph;
    } catch (e) {
      v.error((e as Error).message);
      if (e instanceof DockerfileError) {
        throw new BuildError(e.message, e.line > 0 ? { line: e.line, endLine: e.line } : {});
      }
      throw e;
    }
  }

  async run(): Promise<BuildResult> {
    trace("build: start");
    this.#graph = this.#parse();
    trace("build: parsed");
    const v = this.o.progress.vertex("[internal] load .dockerignore");
    try {
      this.#context = BuildContext.open(this.o.context, {
        ...(this.o.dockerfile.path !== undefined && { dockerfile: this.o.dockerfile.path }),
      });
    } catch (e) {
      v.error((e as Error).message);
      throw new BuildError(`Cannot use the build context: ${(e as Error).message}`);
    }
    let ignoreSize = 0;
    try {
      ignoreSize = Deno.statSync(`${this.o.context}/.dockerignore`).size;
    } catch { /* none */ }
    v.log(`transferring context: ${humanSize(ignoreSize)} done`);
    v.done();
    const cache = BuildCache.open(this.o.store, { disabled: this.o.noCache === true });
    return await this.o.store.ingest(async () => {
      this.#tmp = makeBuildTemp(this.o.store.root);
      try {
        return await this.#build(cache);
      } finally {
        removeTree(this.#tmp);
      }
    });
  }

  async #build(cache: BuildCache): Promise<BuildResult> {
    const g = this.#graph;
    const hashes = new FileHashCache();
    // The images first, side by side, as BuildKit loads metadata before it solves.
    await this.#settle(g.needed.map(async (i) => {
      const s = g.stages[i];
      const refs = [...(s.base.kind === "image" ? [s.base.ref] : []), ...s.images];
      for (const ref of refs) {
        try {
          await this.#image(ref, this.#platformOf(i));
        } catch (e) {
          throw this.#at(s.from, e);
        }
      }
    }));
    trace("build: base images found");
    const shared = {
      store: this.o.store,
      cache,
      hashes,
      graph: g,
      file: this.file,
      progress: this.o.progress,
      runner: this.o.runner,
      network: this.o.network ?? "none",
      tmp: this.#tmp,
      cacheMounts: `${this.o.store.root}/build/cache-mounts`,
      signal: this.abort.signal,
      fetch: this.o.fetch ?? ((url: string) => fetch(url)),
      ...(g.epoch !== undefined && { epoch: g.epoch }),
      now: this.o.now ?? (() => new Date()),
      context: () => this.#context!,
      tempDir: (what: string) => Deno.makeTempDirSync({ dir: this.#tmp, prefix: `${what}-` }),
    };
    const results = await this.#settle(
      g.needed.map((i) => this.#stage(i, { ...shared, from: (ref) => this.#from(ref) })),
    );
    trace("build: stages built");
    const result = results[g.needed.indexOf(g.target)];
    let config = result.config;
    if (this.o.labels && Object.keys(this.o.labels).length > 0) {
      config = structuredClone(config);
      config.config.Labels = { ...(config.config.Labels ?? {}), ...this.o.labels };
    }
    const v = this.o.progress.vertex("exporting to image");
    v.log("exporting layers done");
    config = { ...config, history: fillHistoryTimes(config.history) };
    const created = config.history.findLast((h) => h.created !== undefined)?.created ??
      shared.now().toISOString();
    const rec = await writeImage(this.o.store, {
      config,
      layers: result.layers,
      names: this.o.tags ?? [],
      created,
    });
    v.log(`writing image ${rec.config} done`);
    for (const n of this.o.tags ?? []) v.log(`naming to ${n} done`);
    v.done();
    trace("build: image written");
    return { id: rec.config, digest: rec.digest, names: [...(this.o.tags ?? [])] };
  }

  /**
   * Waits for all of `work`; the first failure aborts the rest (their
   * containers are killed), and is thrown once everything has settled.
   */
  async #settle<T>(work: Promise<T>[]): Promise<T[]> {
    const watched = work.map((p) =>
      p.catch((e) => {
        this.#failure ??= e;
        this.abort.abort();
        throw e;
      })
    );
    const settled = await Promise.allSettled(watched);
    if (this.#failure !== undefined) throw this.#failure;
    if (this.o.signal?.aborted) throw interrupted();
    return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
  }

  /** An error at an instruction, as a BuildError naming its line. */
  #at(ins: Instruction, e: unknown): BuildError {
    if (e instanceof BuildError) return e;
    const detail = e instanceof DockerfileError ? e.detail : (e as Error).message;
    return new BuildError(`${this.file}:${ins.line}: ${ins.source}: ${detail}`, {
      line: ins.line,
      endLine: ins.endLine,
    });
  }

  #platformOf(i: number): Platform {
    return this.#graph.stages[i].platform ?? this.o.platform ?? hostPlatform();
  }

  /** An image in the store, pulled when missing (or always with `pull`); once per build. */
  #image(ref: string, platform: Platform): Promise<BaseImage> {
    return memo(
      this.#images,
      `${ref} ${formatPlatform(platform)}`,
      () => this.#loadImage(ref, platform),
    );
  }

  async #loadImage(ref: string, platform: Platform): Promise<BaseImage> {
    const name = displayName(ref);
    const v = this.o.progress.vertex(`[internal] load metadata for ${name}`);
    try {
      let found;
      if (!this.o.pull) {
        try {
          found = await resolveImage(this.o.store, ref);
        } catch (e) {
          if (!(e instanceof NoSuchImageError)) throw e;
        }
      }
      const pulled = found === undefined;
      if (!found) {
        if (!this.o.pullImage) throw new NoSuchImageError(ref);
        const what = await this.o.pullImage(ref, {
          platform,
          progress: vertexProgress((t) => v.log(t)),
        });
        found = await resolveImage(this.o.store, what);
      }
      const c = found.config;
      if (c.architecture !== platform.architecture || c.os !== platform.os) {
        this.o.progress.warn(
          `InvalidBaseImagePlatform: Base image ${name} was pulled with platform "${c.os}/${c.architecture}", expected "${
            formatPlatform(platform)
          }" for current build`,
        );
      }
      v.done();
      return { name, id: found.id, config: c, layers: found.manifest.layers, pulled };
    } catch (e) {
      v.error((e as Error).message);
      throw e;
    }
  }

  /** A stage or image that COPY --from or RUN --mount from= names. */
  async #from(ref: string): Promise<FromSource> {
    const g = this.#graph;
    const index = /^\d+$/.test(ref)
      ? Number(ref)
      : g.stages.find((s) => s.name === ref.toLowerCase())?.index;
    if (index !== undefined) {
      const r = await this.#stageResult(index);
      return { root: new LayeredRoot(layerDirs(this.o.store, r.config)), key: r.key };
    }
    const img = await this.#image(ref, this.o.platform ?? hostPlatform());
    return { root: new LayeredRoot(layerDirs(this.o.store, img.config)), key: img.id };
  }

  #stageResult(i: number): Promise<StageResult> {
    const p = this.#stages.get(i);
    if (!p) throw new Error(`stage ${i} is not built`);
    return p;
  }

  #stage(i: number, env: StageEnv): Promise<StageResult> {
    return memo(this.#stages, i, () => this.#buildStage(i, env));
  }

  async #buildStage(i: number, env: StageEnv): Promise<StageResult> {
    const g = this.#graph;
    const s = g.stages[i];
    // The stages it needs are in the map already: `needed` is in Dockerfile order.
    await Promise.all(s.needs.map((d) => this.#stageResult(d)));
    if (this.abort.signal.aborted) throw interrupted();
    const platform = this.#platformOf(i);
    let sb: StageBuild;
    try {
      if (s.base.kind === "image") {
        const img = await this.#image(s.base.ref, platform);
        const { config, triggers } = startConfig(img.config, platform);
        sb = new StageBuild(env, s, {
          config,
          layers: img.layers,
          key: img.id,
          scope: StageScope.start(g),
          fromStep: true,
          steps: [
            ...parseTriggers(triggers, { line: s.from.line, file: this.file }),
            ...s.instructions,
          ],
        });
        const v = this.o.progress.vertex(sb.fromTitle(img.name));
        if (img.pulled) v.done();
        else v.cached();
      } else if (s.base.kind === "stage") {
        const base = await this.#stageResult(s.base.index);
        const { config } = startConfig(finalConfig(base.config), platform);
        sb = new StageBuild(env, s, {
          config,
          layers: base.layers,
          key: base.key,
          scope: StageScope.start(g, base.scope),
          fromStep: false,
          steps: [...s.triggers, ...s.instructions],
        });
      } else {
        const { config } = startConfig(undefined, platform);
        sb = new StageBuild(env, s, {
          config,
          layers: [],
          key: `scratch ${formatPlatform(platform)}`,
          scope: StageScope.start(g),
          fromStep: false,
          steps: s.instructions,
        });
      }
    } catch (e) {
      throw this.#at(s.from, e);
    }
    return await sb.run();
  }
}
