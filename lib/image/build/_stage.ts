/**
 * One stage of a build, step by step: each instruction substituted, then
 * applied to the stage's config, its filesystem steps (RUN, COPY, ADD,
 * WORKDIR when it creates the directory) looked up in the build cache by
 * their key and made only on a miss, each as one layer.
 * @module
 */

import type { UserMount } from "../../config/container.ts";
import { type Digest, sha256 } from "../digest.ts";
import { formatPlatform, type Platform } from "../platform.ts";
import type { Descriptor } from "../schema.ts";
import type { Store } from "../store.ts";
import { removeTree } from "../../os/tree.ts";
import { type BuildCache, mountIdentity, stepKey } from "./cache.ts";
import {
  type BuildContext,
  copyDigest,
  type CopySource,
  type Download,
  type FetchFn,
  fetchUrl,
  type FileHashCache,
  LayeredRoot,
  parseChown,
  planCopy,
  planMkdir,
  splitAddSources,
  userDbOf,
} from "./context.ts";
import { applyCopy } from "./staging.ts";
import { layerDescriptor, type LayerResult, writeLayer } from "./diff.ts";
import {
  type AddInstruction,
  type CopyInstruction,
  DockerfileError,
  type Instruction,
  parseRunMount,
  type RunInstruction,
  type WorkdirInstruction,
} from "./dockerfile.ts";
import { expandInstruction, expandWord } from "./expand.ts";
import {
  applyInstruction,
  type BuildImageConfig,
  copyHistory,
  normalizeWorkdir,
  runProcess,
} from "./image_config.ts";
import type { BuildProgress, Vertex } from "./progress.ts";
import type { BuildGraph, Stage, StageScope } from "./stages.ts";
import { hostMounts } from "./_run_mounts.ts";
import { trace } from "../../trace.ts";

/** The network of a RUN step: none (lo only), host, or ctr's default bridge. */
export type RunNetwork = "none" | "host" | "bridge";

/** What the build asks of the engine for a RUN step. */
export interface RunRequest {
  /** The stage's layer directories, top first. */
  readonly layers: readonly string[];
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  /** The config's User; empty: root. */
  readonly user?: string;
  readonly network: RunNetwork;
  readonly mounts: readonly UserMount[];
  readonly output?: (chunk: Uint8Array) => void;
  readonly signal?: AbortSignal;
}

/**
 * Runs a RUN step's container (lib/engine/build_step.ts). `onSuccess` gets
 * its upper directory when it exits 0, before the container is removed.
 */
export type StepRunner = <T>(
  req: RunRequest,
  onSuccess: (upper: string) => Promise<T>,
) => Promise<{ readonly code: number; readonly value?: T }>;

/** A failed build: the message names the file, the line and the instruction. */
export class BuildError extends Error {
  /** ctr's exit code: 1 as docker's for a failed build, 130 when interrupted. */
  readonly exitCode: number;

  constructor(
    message: string,
    readonly where: {
      /** The instruction's lines. */
      readonly line?: number;
      readonly endLine?: number;
      /** The step's title (`[2/3] RUN make`) and its last lines of output. */
      readonly step?: string;
      readonly tail?: readonly string[];
      readonly exitCode?: number;
    } = {},
  ) {
    super(message);
    this.name = "BuildError";
    this.exitCode = where.exitCode ?? 1;
  }
}

/** The diff_id of a layer with nothing in it (a tar of its end marker only). */
export const EMPTY_LAYER: Digest = sha256(new Uint8Array(1024));

/** A finished stage. */
export interface StageResult {
  readonly config: BuildImageConfig;
  /** Layer descriptors, parallel to config.rootfs.diff_ids. */
  readonly layers: readonly Descriptor[];
  /** The cache key of its last step. */
  readonly key: string;
  readonly scope: StageScope;
}

/** Where COPY --from and RUN --mount from= read. */
export interface FromSource {
  readonly root: LayeredRoot;
  /** Its identity for cache keys: a stage's last key, an image's ID. */
  readonly key: string;
}

/** What a stage needs of its build. */
export interface StageEnv {
  readonly store: Store;
  readonly cache: BuildCache;
  readonly hashes: FileHashCache;
  readonly graph: BuildGraph;
  /** The Dockerfile's name in messages. */
  readonly file: string;
  readonly progress: BuildProgress;
  readonly runner: StepRunner;
  /** `ctr build --network`: the network of a RUN without its own. */
  readonly network: RunNetwork;
  /** The build's temporary directory. */
  readonly tmp: string;
  /** ROOT/build/cache-mounts. */
  readonly cacheMounts: string;
  readonly signal: AbortSignal;
  readonly fetch: FetchFn;
  /** SOURCE_DATE_EPOCH, seconds. */
  readonly epoch?: number;
  readonly now: () => Date;
  /** The build context (opened on first use). */
  context(): BuildContext;
  /** A stage or an image named by `--from` / `from=`. */
  from(ref: string): Promise<FromSource>;
  /** A fresh directory under tmp. */
  tempDir(what: string): string;
}

/** The layer directories of a config, top first; a repeated diff_id once, at its top place. */
export function layerDirs(
  store: Store,
  config: { readonly rootfs: { readonly diff_ids: readonly string[] } },
): string[] {
  const out: string[] = [];
  for (const d of [...config.rootfs.diff_ids].reverse()) {
    const p = store.layerPath(d as Digest);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** Whether an instruction makes a filesystem step (shown as a vertex). */
export function isFilesystemStep(i: Instruction): boolean {
  return i.kind === "RUN" || i.kind === "COPY" || i.kind === "ADD" || i.kind === "WORKDIR";
}

function short(text: string): string {
  const one = text.replace(/\s*\n[\s\S]*$/, " …");
  return one.length > 60 ? one.slice(0, 59) + "…" : one;
}

/** A stage being built. */
export class StageBuild {
  readonly scope: StageScope;
  /** The instructions to run: the base's ONBUILD triggers, then the stage's. */
  readonly steps: readonly Instruction[];
  /** The stage's config so far. */
  config: BuildImageConfig;
  /** Its layer descriptors so far, parallel to config.rootfs.diff_ids. */
  layers: Descriptor[];
  /** The cache key of the last step. */
  key: string;
  #cmdSet = false;
  #step: number;
  readonly #total: number;
  readonly #prefix: string;

  constructor(
    readonly env: StageEnv,
    readonly stage: Stage,
    start: {
      config: BuildImageConfig;
      layers: readonly Descriptor[];
      key: string;
      scope: StageScope;
      /** The FROM line is a step of its own (an image base). */
      fromStep: boolean;
      /** The instructions to run: the base's ONBUILD triggers, then the stage's. */
      steps: readonly Instruction[];
    },
  ) {
    this.scope = start.scope;
    this.steps = start.steps;
    this.config = start.config;
    this.layers = [...start.layers];
    this.key = start.key;
    this.#step = start.fromStep ? 1 : 0;
    this.#total = this.#step + start.steps.filter(isFilesystemStep).length;
    this.#prefix = env.graph.stages.length > 1 || stage.name !== undefined ? `${stage.label} ` : "";
  }

  /** The title of the FROM vertex. */
  fromTitle(image: string): string {
    return `[${this.#prefix}1/${this.#total}] FROM ${image}`;
  }

  #title(ins: Instruction): string {
    return `[${this.#prefix}${++this.#step}/${this.#total}] ${ins.source}`;
  }

  /** The platform the stage builds for: its FROM --platform, else its base's. */
  get platform(): Platform {
    return this.stage.platform ?? {
      os: this.config.os,
      architecture: this.config.architecture,
      ...(this.config.variant ? { variant: this.config.variant as string } : {}),
    };
  }

  /** Builds every step; returns the stage's result. Throws BuildError. */
  async run(): Promise<StageResult> {
    for (const ins of this.steps) {
      if (this.env.signal.aborted) throw interrupted();
      await this.#one(ins);
      trace(`build: ${this.stage.label}: line ${ins.line} ${ins.kind}`);
    }
    return {
      config: this.config,
      layers: this.layers,
      key: this.key,
      scope: this.scope,
    };
  }

  #fail(ins: Instruction, e: unknown, v?: Vertex): never {
    if (e instanceof BuildError) {
      v?.error(e.message);
      if (e.where.line !== undefined || e.where.exitCode === 130) throw e;
      throw new BuildError(`${this.env.file}:${ins.line}: ${short(ins.source)}: ${e.message}`, {
        ...e.where,
        line: ins.line,
        endLine: ins.endLine,
      });
    }
    if (this.env.signal.aborted) {
      v?.error("interrupted");
      throw interrupted();
    }
    const detail = e instanceof DockerfileError ? e.detail : (e as Error).message;
    v?.error(detail);
    throw new BuildError(`${this.env.file}:${ins.line}: ${short(ins.source)}: ${detail}`, {
      line: ins.line,
      endLine: ins.endLine,
      ...(v && { step: v.name, tail: v.tail(6) }),
    });
  }

  async #one(ins: Instruction): Promise<void> {
    const v = isFilesystemStep(ins) ? this.env.progress.vertex(this.#title(ins)) : undefined;
    try {
      const env = this.config.config.Env ?? [];
      if (ins.kind === "ARG") {
        const text = this.scope.declare(ins, env);
        this.#meta(ins, { argText: text });
        return;
      }
      const x = expandInstruction(ins, this.scope.vars(env), { escape: this.env.graph.escape });
      switch (x.kind) {
        case "RUN":
          await this.#run(x, v!);
          break;
        case "COPY":
        case "ADD":
          await this.#copy(x, v!);
          break;
        case "WORKDIR":
          await this.#workdir(x, v!);
          break;
        case "FROM":
          throw new Error("FROM cannot be an ONBUILD trigger");
        default:
          this.#meta(x);
      }
    } catch (e) {
      this.#fail(ins, e, v);
    }
  }

  /** The time of a new layer: now, or SOURCE_DATE_EPOCH. */
  #now(): string {
    const e = this.env.epoch;
    return (e !== undefined ? new Date(e * 1000) : this.env.now()).toISOString();
  }

  /**
   * The time of a step that changes the config only: SOURCE_DATE_EPOCH, else
   * none (the export gives it its neighbours' time, as BuildKit does).
   */
  #metaTime(): { created?: string } {
    const e = this.env.epoch;
    return e !== undefined ? { created: new Date(e * 1000).toISOString() } : {};
  }

  /** A step that changes the config only: applied, its key chained. */
  #meta(x: Instruction, opts: { argText?: string } = {}): void {
    this.config = applyInstruction(this.config, x, {
      ...opts,
      ...this.#metaTime(),
      style: "buildkit",
      cmdSet: this.#cmdSet,
    });
    if (x.kind === "CMD") this.#cmdSet = true;
    const line = x.kind === "ONBUILD"
      ? `ONBUILD ${x.expression}`
      : this.config.history[this.config.history.length - 1]?.created_by ?? x.source;
    this.key = stepKey({ parent: this.key, instruction: line });
  }

  /**
   * A filesystem step: its layer from the cache, else made by `make`
   * (undefined when the step wrote nothing); then the config gets it.
   */
  async #layerStep(
    x: Instruction,
    v: Vertex,
    key: Digest,
    createdBy: string | undefined,
    make: () => Promise<LayerResult>,
  ): Promise<void> {
    const hit = this.env.cache.get(key);
    let layer: { diffId: Digest; descriptor: Descriptor };
    let created: string;
    if (hit) {
      const { mediaType, digest, size } = hit.layer;
      layer = { diffId: hit.layer.diffId, descriptor: { mediaType, digest, size } };
      created = hit.created ?? this.#now();
      v.cached();
    } else {
      const made = await make();
      created = this.#now();
      this.env.cache.put({
        key,
        layer: {
          diffId: made.diffId,
          digest: made.digest,
          size: made.size,
          mediaType: made.mediaType,
        },
        created,
        ...(createdBy !== undefined && { createdBy }),
      });
      layer = { diffId: made.diffId, descriptor: layerDescriptor(made) };
      v.done();
    }
    // A step that wrote nothing adds no layer, as BuildKit: its history entry is an empty one.
    const empty = layer.diffId === EMPTY_LAYER;
    this.config = applyInstruction(this.config, x, {
      ...(!empty && { layer: layer.diffId }),
      ...(createdBy !== undefined && { createdBy }),
      created,
      style: "buildkit",
      cmdSet: this.#cmdSet,
    });
    if (!empty) this.layers.push(layer.descriptor);
    this.key = key;
  }

  /** Writes a layer of `dir` (a tree: no whiteouts) and removes the directory. */
  async #treeLayer(dir: string): Promise<LayerResult> {
    try {
      return await writeLayer(this.env.store, dir, {
        kind: "tree",
        ...(this.env.epoch !== undefined && { epoch: this.env.epoch }),
      });
    } finally {
      removeTree(dir);
    }
  }

  #root(): LayeredRoot {
    return new LayeredRoot(layerDirs(this.env.store, this.config));
  }

  #createdNs(): bigint {
    const e = this.env.epoch;
    return e !== undefined
      ? BigInt(e) * 1_000_000_000n
      : BigInt(this.env.now().getTime()) * 1_000_000n;
  }

  async #workdir(x: WorkdirInstruction, v: Vertex): Promise<void> {
    const path = normalizeWorkdir(this.config.config.WorkingDir ?? "", x.path);
    const root = this.#root();
    const user = this.config.config.User;
    const owner = user ? parseChown(user, userDbOf(root)) : undefined;
    const plan = planMkdir(root, path, {
      ...(owner && { owner }),
      createdNs: this.#createdNs(),
    });
    if (plan.ops.length === 0) {
      this.config = applyInstruction(this.config, x, { ...this.#metaTime(), style: "buildkit" });
      this.key = stepKey({ parent: this.key, instruction: `WORKDIR ${path}` });
      // Nothing to make: as a step whose result is known (BuildKit's mkdir would be cached).
      if (this.env.cache.disabled) v.done();
      else v.cached();
      return;
    }
    const key = stepKey({
      parent: this.key,
      instruction: `WORKDIR ${path}`,
      content: copyDigest(plan, this.env.hashes),
    });
    await this.#layerStep(x, v, key, undefined, async () => {
      const dir = this.env.tempDir("workdir");
      await applyCopy(plan, dir);
      return await this.#treeLayer(dir);
    });
  }

  async #copy(x: CopyInstruction | AddInstruction, v: Vertex): Promise<void> {
    let from: CopySource;
    let sources = [...x.sources];
    const downloads: Download[] = [];
    const tmp = this.env.tempDir("copy");
    try {
      if (x.kind === "COPY" && x.from !== undefined) {
        from = { root: (await this.env.from(x.from)).root, keepOwners: true };
      } else {
        from = this.env.context().source();
      }
      if (x.kind === "ADD") {
        const split = splitAddSources(x.sources);
        if (split.git.length > 0) {
          throw new Error(`ADD from a git repository is not supported by ctr: ${split.git[0]}`);
        }
        if (x.checksum !== undefined && split.local.length > 0) {
          throw new Error("checksum can't be specified for non-HTTP(S) sources");
        }
        sources = split.local;
        for (const url of split.urls) {
          v.log(`downloading ${url}`);
          downloads.push(
            await fetchUrl(url, this.env.fetch, {
              tmpDir: tmp,
              ...(x.checksum !== undefined && { checksum: x.checksum }),
            }),
          );
        }
      }
      const target = this.#root();
      const plan = await planCopy({
        kind: x.kind,
        sources,
        contents: x.contents,
        downloads,
        dest: x.dest,
        workdir: this.config.config.WorkingDir ?? "/",
        from,
        ...(!x.link && { target }),
        ...(x.chown !== undefined && { chown: parseChown(x.chown, userDbOf(target)) }),
        ...(x.chmod !== undefined && { chmod: x.chmod }),
        exclude: x.exclude,
        ...(x.kind === "COPY" && { parents: x.parents }),
        ...(x.kind === "ADD" && x.unpack !== undefined && { unpack: x.unpack }),
        createdNs: this.#createdNs(),
      });
      const createdBy = copyHistory(x);
      const key = stepKey({
        parent: this.key,
        instruction: createdBy,
        content: copyDigest(plan, this.env.hashes),
      });
      await this.#layerStep(x, v, key, createdBy, async () => {
        const dir = this.env.tempDir("layer");
        await applyCopy(plan, dir);
        return await this.#treeLayer(dir);
      });
    } finally {
      removeTree(tmp);
    }
  }

  async #run(x: RunInstruction, v: Vertex): Promise<void> {
    if (x.security === "insecure") {
      throw new Error("RUN --security=insecure is not allowed: ctr build grants no insecure steps");
    }
    if (x.devices.length > 0) {
      throw new Error("RUN --device is not supported by ctr build");
    }
    const env = this.config.config.Env ?? [];
    const vars = this.scope.vars(env);
    const escape = this.env.graph.escape;
    const mounts = x.mounts.map((m) => parseRunMount(m, (w) => expandWord(w, vars, { escape })));
    const proc = runProcess(this.config, x, this.scope.historyPrefix(env));
    const network: RunNetwork = x.network === "none"
      ? "none"
      : x.network === "host"
      ? "host"
      : this.env.network;
    const fromKeys = new Map<string, string>();
    for (const m of mounts) {
      if (m.from !== undefined) fromKeys.set(m.from, (await this.env.from(m.from)).key);
    }
    const key = stepKey({
      parent: this.key,
      instruction: `${proc.createdBy}\0network=${network}`,
      args: this.scope.values(),
      mounts: mounts.map((m) => mountIdentity(m, (f) => fromKeys.get(f) ?? f)),
      platform: formatPlatform(this.platform),
    });
    await this.#layerStep(x, v, key, proc.createdBy, async () => {
      const tmp = this.env.tempDir("run");
      const workdir = this.config.config.WorkingDir || "/";
      try {
        const host = await hostMounts(mounts, proc.files, {
          workdir,
          tmp,
          cacheDir: this.env.cacheMounts,
          source: async (from) =>
            from === undefined
              ? this.env.context().source()
              : { root: (await this.env.from(from)).root, keepOwners: true },
        });
        for (const w of host.warnings) v.log(`WARNING: ${w}`);
        try {
          const r = await this.env.runner({
            layers: layerDirs(this.env.store, this.config),
            args: proc.args,
            env: this.scope.runEnv(env),
            cwd: workdir,
            user: this.config.config.User ?? "",
            network,
            mounts: host.mounts,
            output: (c) => v.output(c),
            signal: this.env.signal,
          }, (upper) =>
            writeLayer(this.env.store, upper, {
              kind: "upper",
              ...(this.env.epoch !== undefined && { epoch: this.env.epoch }),
            }));
          if (this.env.signal.aborted) throw interrupted();
          if (r.code !== 0 || r.value === undefined) {
            throw new BuildError(
              `process ${
                JSON.stringify(proc.args.join(" "))
              } did not complete successfully: exit code: ${r.code}`,
              { step: v.name, tail: v.tail(6) },
            );
          }
          return r.value;
        } finally {
          host.release();
        }
      } finally {
        removeTree(tmp);
      }
    });
  }
}

/** The error of an interrupted build (SIGINT, SIGTERM, or another stage failed). */
export function interrupted(): BuildError {
  return new BuildError("The build was interrupted", { exitCode: 130 });
}
