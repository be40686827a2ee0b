/**
 * The build graph of a Dockerfile: its stages, what each needs, which the
 * target needs, and in what order independent stages can build side by side;
 * and the scope of build arguments, with docker's rules:
 *
 * - an ARG before the first FROM is global: usable in FROM lines (image and
 *   `--platform`); inside a stage it is visible only once re-declared (`ARG
 *   NAME`, which takes the global value);
 * - `--build-arg` overrides defaults, global or not; a build-arg no ARG
 *   declares is not visible, and docker warns it was not consumed;
 * - the proxy variables (HTTP_PROXY, http_proxy, ... ALL_PROXY, all_proxy)
 *   reach RUN without declaration and stay out of the image history;
 * - TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT, BUILDPLATFORM,
 *   BUILDOS, BUILDARCH, BUILDVARIANT, TARGETSTAGE are set automatically
 *   (global scope; a stage re-declares them to use them);
 * - an ENV of the same name always wins over an ARG.
 *
 * A stage depends on its base when it is an earlier stage (`FROM builder`)
 * and on the stages `COPY --from=` and `RUN --mount=from=` name (by name or
 * index); a name that is no stage is an image. `--target` picks the last
 * stage to build and prunes every stage it does not need. ONBUILD triggers
 * of a base stage run first in the stage built on it. Pure: no I/O.
 * @module
 */

import { closest } from "../../suggest.ts";
import { normalizeReference } from "../reference.ts";
import { formatPlatform, hostPlatform, parsePlatform, type Platform } from "../platform.ts";
import {
  type ArgInstruction,
  type Dockerfile,
  DockerfileError,
  type FromInstruction,
  type Instruction,
  parseRunMount,
} from "./dockerfile.ts";
import { expand, ExpandError, type Vars } from "./expand.ts";

/** Build arguments docker accepts without an ARG, kept out of the image history. */
export const PROXY_ARGS: readonly string[] = [
  "HTTP_PROXY",
  "http_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "FTP_PROXY",
  "ftp_proxy",
  "NO_PROXY",
  "no_proxy",
  "ALL_PROXY",
  "all_proxy",
];

/** Arguments the builder sets itself from the platforms and the target. */
export const AUTOMATIC_ARGS: readonly string[] = [
  "BUILDPLATFORM",
  "BUILDOS",
  "BUILDOSVERSION",
  "BUILDARCH",
  "BUILDVARIANT",
  "TARGETPLATFORM",
  "TARGETOS",
  "TARGETOSVERSION",
  "TARGETARCH",
  "TARGETVARIANT",
  "TARGETSTAGE",
];

/** What a stage starts from. */
export type StageBase =
  | { readonly kind: "scratch" }
  | { readonly kind: "stage"; readonly index: number }
  | { readonly kind: "image"; readonly ref: string };

/** One stage of the Dockerfile. */
export interface Stage {
  /** Its position (what `COPY --from=0` names). */
  readonly index: number;
  /** `FROM ... AS name`, lower-cased. */
  readonly name?: string;
  /** A name for messages: the stage name or `stage-N`. */
  readonly label: string;
  readonly from: FromInstruction;
  /** The FROM image after substitution of the global ARGs. */
  readonly base: StageBase;
  /** `FROM --platform=` after substitution. */
  readonly platform?: Platform;
  /** The instructions after FROM. */
  readonly instructions: readonly Instruction[];
  /** ONBUILD triggers of a base stage, run before `instructions`. */
  readonly triggers: readonly Instruction[];
  /** Earlier stages it needs (base, COPY --from, RUN --mount from=), sorted. */
  readonly needs: readonly number[];
  /** Images it needs besides its base (COPY --from=IMAGE, RUN --mount from=IMAGE). */
  readonly images: readonly string[];
}

/** The stages of a build and their order. */
export interface BuildGraph {
  readonly stages: readonly Stage[];
  /** The stage whose image is the result. */
  readonly target: number;
  /** The stages the target needs (itself included), in Dockerfile order. */
  readonly needed: readonly number[];
  /** `needed` in waves: each stage depends only on stages of earlier waves. */
  readonly waves: readonly (readonly number[])[];
  /** The global ARGs (and automatic ones) with a value. */
  readonly globalArgs: Vars;
  /** The build-args as given. */
  readonly buildArgs: Readonly<Record<string, string>>;
  /** SOURCE_DATE_EPOCH (seconds), from a build-arg or a global ARG. */
  readonly epoch?: number;
  /** The Dockerfile's escape character. */
  readonly escape: Dockerfile["escape"];
  /** Messages for the user, in docker's words. */
  readonly warnings: readonly string[];
}

/** Options of buildGraph. */
export interface GraphOptions {
  /** `--build-arg NAME=VALUE`. */
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** `--target STAGE`. */
  readonly target?: string;
  /** `--platform` (default: the build platform). */
  readonly targetPlatform?: Platform;
  /** The platform ctr runs on (default: this host's). */
  readonly buildPlatform?: Platform;
  /** The file name errors name (default "Dockerfile"). */
  readonly file?: string;
}

/** The automatic platform and target arguments (build-args override them). */
export function automaticArgs(
  build: Platform,
  target: Platform,
  targetStage: string,
): Map<string, string> {
  return new Map([
    ["BUILDPLATFORM", formatPlatform(build)],
    ["BUILDOS", build.os],
    ["BUILDOSVERSION", ""],
    ["BUILDARCH", build.architecture],
    ["BUILDVARIANT", build.variant ?? ""],
    ["TARGETPLATFORM", formatPlatform(target)],
    ["TARGETOS", target.os],
    ["TARGETOSVERSION", ""],
    ["TARGETARCH", target.architecture],
    ["TARGETVARIANT", target.variant ?? ""],
    ["TARGETSTAGE", targetStage || "default"],
  ]);
}

/** The COPY --from and RUN --mount from= values of instructions. */
function fromReferences(
  ins: readonly Instruction[],
  file: string,
): { value: string; at: Instruction; what: string }[] {
  const out: { value: string; at: Instruction; what: string }[] = [];
  for (const i of ins) {
    if (i.kind === "COPY" && i.from !== undefined) out.push({ value: i.from, at: i, what: "copy" });
    if (i.kind === "RUN") {
      for (const spec of i.mounts) {
        let from: string | undefined;
        try {
          from = parseRunMount(spec).from;
        } catch { /* reported when the step runs, after substitution */ }
        if (from !== undefined) {
          if (/\$./.test(from.replace(/\$$/, ""))) {
            throw new DockerfileError(
              file,
              i.line,
              "'from' doesn't support variable expansion, define alias stage instead",
            );
          }
          out.push({ value: from, at: i, what: "mount" });
        }
      }
    }
  }
  return out;
}

/** The stages and images some instructions of stage `current` read from. */
export function stageDependencies(
  stages: readonly Pick<Stage, "index" | "name" | "label">[],
  current: number,
  ins: readonly Instruction[],
  file = "Dockerfile",
): { stages: number[]; images: string[] } {
  const out = { stages: new Set<number>(), images: new Set<string>() };
  for (const ref of fromReferences(ins, file)) {
    let target: number | undefined;
    if (/^\d+$/.test(ref.value)) {
      target = Number(ref.value);
      if (target >= stages.length) {
        throw new DockerfileError(file, ref.at.line, `invalid stage index ${ref.value}`);
      }
    } else {
      target = stages.find((s) => s.name === ref.value.toLowerCase())?.index;
    }
    if (target === undefined) {
      out.images.add(ref.value);
      continue;
    }
    if (target >= current) {
      throw new DockerfileError(
        file,
        ref.at.line,
        ref.what === "copy"
          ? `cannot copy from stage ${
            JSON.stringify(ref.value)
          }, it needs to be defined before current stage ${
            JSON.stringify(stages[current]?.label ?? "")
          }`
          : `cannot mount from stage ${JSON.stringify(ref.value)} to ${
            JSON.stringify(stages[current]?.label ?? "")
          }, stage needs to be defined before current command`,
      );
    }
    out.stages.add(target);
  }
  return { stages: [...out.stages].sort((a, b) => a - b), images: [...out.images].sort() };
}

function expandGlobal(
  text: string,
  vars: Vars,
  escape: Dockerfile["escape"],
  file: string,
  line: number,
): string {
  try {
    return expand(text, vars, { escape }).value;
  } catch (e) {
    if (e instanceof ExpandError) throw new DockerfileError(file, line, e.message);
    throw e;
  }
}

/**
 * The stages of a parsed Dockerfile, the global arguments, the target and
 * the order to build in. Throws DockerfileError.
 */
export function buildGraph(df: Dockerfile, opts: GraphOptions = {}): BuildGraph {
  const file = opts.file ?? "Dockerfile";
  const buildArgs = opts.buildArgs ?? {};
  const buildPlatform = opts.buildPlatform ?? hostPlatform();
  const targetPlatform = opts.targetPlatform ?? buildPlatform;
  const warnings = df.warnings.map((w) => `${file}:${w.line}: ${w.message}`);

  // Group: global ARGs, then one stage per FROM.
  const metaArgs: ArgInstruction[] = [];
  const groups: { from: FromInstruction; body: Instruction[] }[] = [];
  for (const ins of df.instructions) {
    if (ins.kind === "FROM") groups.push({ from: ins, body: [] });
    else if (groups.length > 0) groups[groups.length - 1].body.push(ins);
    else if (ins.kind === "ARG") metaArgs.push(ins);
    else throw new DockerfileError(file, ins.line, "no build stage in current context");
  }
  if (groups.length === 0) {
    throw new DockerfileError(file, 0, "dockerfile contains no stages to build");
  }

  // The target name is needed for TARGETSTAGE before the stages are resolved.
  const names = groups.map((g) => g.from.stage);
  let targetIndex = groups.length - 1;
  if (opts.target) {
    const want = opts.target.toLowerCase();
    const i = names.lastIndexOf(want);
    if (i === -1) {
      const near = closest(want, names.filter((n) => n !== undefined));
      throw new DockerfileError(
        file,
        0,
        `target stage ${JSON.stringify(opts.target)} could not be found${
          near ? ` (did you mean ${near}?)` : ""
        }`,
      );
    }
    targetIndex = i;
  }

  const global = automaticArgs(buildPlatform, targetPlatform, names[targetIndex] ?? "");
  for (const [k, v] of Object.entries(buildArgs)) if (global.has(k)) global.set(k, v);
  for (const a of metaArgs) {
    for (const decl of a.args) {
      const name = expandGlobal(decl.name, global, df.escape, file, a.line);
      if (Object.hasOwn(buildArgs, name)) global.set(name, buildArgs[name]);
      else if (decl.value !== undefined) {
        global.set(name, expandGlobal(decl.value, global, df.escape, file, a.line));
      }
    }
  }

  const stages: Stage[] = [];
  const seen = new Map<string, number>();
  // COPY --from names any stage, even a later one (an error then, not an image).
  const all = groups.map((g, index) => ({
    index,
    ...(g.from.stage !== undefined && { name: g.from.stage }),
    label: g.from.stage ?? `stage-${index}`,
  }));
  for (const [index, g] of groups.entries()) {
    const name = g.from.stage;
    if (name !== undefined && seen.has(name)) {
      warnings.push(`${file}:${g.from.line}: duplicate stage name ${JSON.stringify(name)}`);
    }
    const imageText = expandGlobal(g.from.image, global, df.escape, file, g.from.line);
    if (imageText === "") {
      throw new DockerfileError(
        file,
        g.from.line,
        `base name (${g.from.image}) should not be blank`,
      );
    }
    let platform: Platform | undefined;
    if (g.from.platform !== undefined) {
      const p = expandGlobal(g.from.platform, global, df.escape, file, g.from.line);
      if (p === "") {
        throw new DockerfileError(
          file,
          g.from.line,
          `empty platform value from expression ${g.from.platform}`,
        );
      }
      try {
        platform = parsePlatform(p);
      } catch (e) {
        throw new DockerfileError(
          file,
          g.from.line,
          `failed to parse platform ${g.from.platform}: ${(e as Error).message}`,
        );
      }
    }
    const baseStage = seen.get(imageText);
    const base: StageBase = baseStage !== undefined
      ? { kind: "stage", index: baseStage }
      : imageText === "scratch"
      ? { kind: "scratch" }
      : { kind: "image", ref: imageText };
    const triggers = baseStage !== undefined
      ? stages[baseStage].instructions.flatMap((i) => i.kind === "ONBUILD" ? [i.trigger] : [])
      : [];
    const label = all[index].label;
    const deps = stageDependencies(all, index, [...triggers, ...g.body], file);
    const needs = new Set(deps.stages);
    if (baseStage !== undefined) needs.add(baseStage);
    stages.push({
      index,
      ...(name !== undefined && { name }),
      label,
      from: g.from,
      base,
      ...(platform && { platform }),
      instructions: g.body,
      triggers,
      needs: [...needs].sort((a, b) => a - b),
      images: deps.images,
    });
    if (name !== undefined) seen.set(name, index);
  }

  // Only now: an image reference is checked in the stages that are built.
  const needed = new Set<number>();
  const visit = (i: number) => {
    if (needed.has(i)) return;
    needed.add(i);
    for (const d of stages[i].needs) visit(d);
  };
  visit(targetIndex);
  const order = [...needed].sort((a, b) => a - b);
  for (const i of order) {
    const s = stages[i];
    if (s.base.kind !== "image") continue;
    try {
      normalizeReference(s.base.ref);
    } catch (e) {
      throw new DockerfileError(
        file,
        s.from.line,
        `failed to parse stage name ${JSON.stringify(s.base.ref)}: ${(e as Error).message}`,
      );
    }
  }

  const level = new Map<number, number>();
  for (const i of order) {
    level.set(
      i,
      Math.max(-1, ...stages[i].needs.map((d) => level.get(d)!)) + 1,
    );
  }
  const waves: number[][] = [];
  for (const i of order) (waves[level.get(i)!] ??= []).push(i);

  const declared = new Set<string>();
  for (const ins of df.instructions) {
    const list = ins.kind === "ONBUILD" ? [ins.trigger] : [ins];
    for (const i of list) if (i.kind === "ARG") { for (const a of i.args) declared.add(a.name); }
  }
  const unused = Object.keys(buildArgs).filter((k) =>
    !declared.has(k) && !PROXY_ARGS.includes(k) && !AUTOMATIC_ARGS.includes(k)
  ).sort();
  if (unused.length > 0) {
    warnings.push(`[Warning] One or more build-args [${unused.join(" ")}] were not consumed`);
  }

  const epochText = buildArgs.SOURCE_DATE_EPOCH ?? global.get("SOURCE_DATE_EPOCH");
  let epoch: number | undefined;
  if (epochText !== undefined && epochText !== "") {
    if (!/^\d+$/.test(epochText)) {
      throw new DockerfileError(file, 0, `invalid SOURCE_DATE_EPOCH: ${epochText}`);
    }
    epoch = Number(epochText);
  }

  return {
    stages,
    target: targetIndex,
    needed: order,
    waves,
    globalArgs: global,
    buildArgs: { ...buildArgs },
    ...(epoch !== undefined && { epoch }),
    escape: df.escape,
    warnings,
  };
}

/** Splits `K=V` (a value-less `K` has an empty value). */
function splitEnv(e: string): [string, string] {
  const eq = e.indexOf("=");
  return eq === -1 ? [e, ""] : [e.slice(0, eq), e.slice(eq + 1)];
}

/** One ARG as declared in a stage, with its value once resolved. */
export interface ScopedArg {
  readonly name: string;
  /** Undefined: declared without a value (no default, no build-arg, no global). */
  readonly value?: string;
}

/**
 * The build arguments of one stage while it builds. ENV values live in the
 * image config (pass its Env); this holds what ARG declared, in order.
 */
export class StageScope {
  readonly #args: ScopedArg[];

  private constructor(
    readonly graph: Pick<BuildGraph, "globalArgs" | "buildArgs" | "escape">,
    inherited: readonly ScopedArg[],
  ) {
    this.#args = [...inherited];
  }

  /**
   * The scope at the start of a stage: empty, or what its base stage
   * declared (`FROM builder` keeps builder's ARGs, as docker).
   */
  static start(
    graph: Pick<BuildGraph, "globalArgs" | "buildArgs" | "escape">,
    base?: StageScope,
  ): StageScope {
    return new StageScope(graph, base?.args ?? []);
  }

  /** The declared arguments, in order of declaration. */
  get args(): readonly ScopedArg[] {
    return this.#args;
  }

  /** Variables for substitution: the ARGs with a value, then the ENV of `configEnv` (ENV wins). */
  vars(configEnv: readonly string[] = []): Map<string, string> {
    const vars = new Map<string, string>();
    for (const a of this.#args) if (a.value !== undefined) vars.set(a.name, a.value);
    for (const e of configEnv) vars.set(...splitEnv(e));
    return vars;
  }

  /**
   * Declares the ARGs of one instruction: a build-arg wins, else the
   * default (substituted now), else the global value of the same name.
   * Returns the history text (`ARG A=1 B`). Throws ExpandError.
   */
  declare(ins: ArgInstruction, configEnv: readonly string[] = []): string {
    const parts: string[] = [];
    for (const decl of ins.args) {
      const vars = this.vars(configEnv);
      const name = expand(decl.name, vars, { escape: this.graph.escape }).value;
      let value: string | undefined;
      if (Object.hasOwn(this.graph.buildArgs, name)) value = this.graph.buildArgs[name];
      else if (decl.value !== undefined) {
        value = expand(decl.value, vars, { escape: this.graph.escape }).value;
      } else value = this.graph.globalArgs.get(name);
      this.#args.push({ name, ...(value !== undefined && { value }) });
      parts.push(value === undefined ? name : `${name}=${value}`);
    }
    return `ARG ${parts.join(" ")}`;
  }

  /**
   * The environment of a RUN: the image's Env, the ARGs it does not set, and
   * the proxy build-args nobody declared (those never reach the history).
   */
  runEnv(configEnv: readonly string[]): string[] {
    const env = new Map<string, string>();
    for (const [k, v] of Object.entries(this.graph.buildArgs)) {
      if (PROXY_ARGS.includes(k)) env.set(k, v);
    }
    for (const a of this.#args) if (a.value !== undefined) env.set(a.name, a.value);
    for (const e of configEnv) env.set(...splitEnv(e));
    return [...env].map(([k, v]) => `${k}=${v}`);
  }

  /**
   * The build arguments a RUN's history line names, as BuildKit writes
   * them (`|2 A=1 B=2`), or "" when the stage declared none.
   */
  historyPrefix(configEnv: readonly string[]): string {
    const vars = this.vars(configEnv);
    const values = new Map<string, string>();
    for (const a of this.#args) values.set(a.name, vars.get(a.name) ?? a.value ?? "");
    if (values.size === 0) return "";
    return [`|${values.size}`, ...[...values].map(([k, v]) => `${k}=${v}`)].join(" ");
  }

  /** The declared arguments with a value, as a record (for a cache key). */
  values(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const a of this.#args) if (a.value !== undefined) out[a.name] = a.value;
    return out;
  }
}
