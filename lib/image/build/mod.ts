/**
 * `ctr build`, everything but running containers: the Dockerfile parser,
 * variable substitution, the build graph and ARG scopes, the build context
 * and COPY/ADD, the layer writer, the image config and history, and the
 * build cache. The executor (which runs RUN steps) drives them:
 *
 * ```ts
 * const df = parseDockerfile(text);                       // DockerfileError
 * const graph = buildGraph(df, { buildArgs, target });     // warnings: print them
 * for (const wave of graph.waves) {                        // stages of a wave are independent
 *   for (const i of wave) {
 *     const stage = graph.stages[i];
 *     // base: image → resolveImage; stage → that stage's result; scratch → none
 *     let { config, triggers } = startConfig(baseConfig, platform);
 *     const scope = StageScope.start(graph, baseStageScope);
 *     // ONBUILD: a stage base's triggers are stage.triggers (parsed); an image's, parseTriggers()
 *     const first = stage.base.kind === "stage" ? stage.triggers : parseTriggers(triggers, stage.from);
 *     const steps = [...first, ...stage.instructions];
 *     for (const ins of steps) {
 *       const vars = scope.vars(config.config.Env ?? []);
 *       const x = expandInstruction(ins, vars, { escape: graph.escape });
 *       // ARG: scope.declare(x); RUN: runProcess(); COPY/ADD: planCopy → copyDigest
 *       // → cache.get(stepKey(...)) or applyCopy + writeLayer; metadata: applyInstruction
 *     }
 *   }
 * }
 * // writeImage(store, { config, layers, names })
 * ```
 * @module
 */

export {
  type Dockerfile,
  DockerfileError,
  type EscapeChar,
  type Instruction,
  parseDockerfile,
  parseRunMount,
  parseTriggers,
  type RunMount,
} from "./dockerfile.ts";
export type * from "./instructions.ts";
export { expand, ExpandError, expandInstruction, expandWord, expandWords } from "./expand.ts";
export type { Vars } from "./expand.ts";
export {
  AUTOMATIC_ARGS,
  type BuildGraph,
  buildGraph,
  type GraphOptions,
  PROXY_ARGS,
  type Stage,
  stageDependencies,
  StageScope,
} from "./stages.ts";
export {
  applyCopy,
  BuildContext,
  copyDigest,
  CopyError,
  type CopyPlan,
  type CopyRequest,
  type CopySource,
  fetchUrl,
  FileHashCache,
  isOpaque,
  LayeredRoot,
  parseChmod,
  parseChown,
  planCopy,
  planMkdir,
  readDockerignore,
  splitAddSources,
  unpackContext,
  userDbOf,
} from "./context.ts";
export {
  DiffError,
  layerDescriptor,
  layerEntries,
  type LayerResult,
  layerTar,
  writeImage,
  writeLayer,
} from "./diff.ts";
export {
  applyInstruction,
  type BuildImageConfig,
  ConfigError,
  copyHistory,
  finalConfig,
  imageConfigFor,
  normalizeWorkdir,
  runProcess,
  startConfig,
} from "./image_config.ts";
export { BuildCache, type CacheEntry, mountIdentity, stepKey } from "./cache.ts";
export { encodeHeader, padding, TAR_END, type TarHeader } from "./_tar.ts";
export { contentXattrs, isWhiteout } from "./_root.ts";
