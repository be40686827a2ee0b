/**
 * `ctr build` (docker's options and meaning) and `ctr builder prune`.
 *
 * The context is a directory, or `-`: a tar on stdin (any compression), or
 * a Dockerfile on stdin with an empty context. `-f` names the Dockerfile:
 * relative to the current directory for a directory context (as docker's
 * CLI), inside the archive for a tar, `-` for stdin; the default is
 * `CONTEXT/Dockerfile`. Progress goes to stderr as BuildKit prints it; stdout
 * stays empty but for `-q`, which prints the image ID.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { keyValues, labelProblem } from "../config/rules.ts";
import { formatPlatform, parsePlatform, type Platform } from "../image/platform.ts";
import { formatReference, normalizeReference, parseReference } from "../image/reference.ts";
import type { Credentials } from "../image/registry.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";
import type { BuildError, BuildResult } from "../image/build/executor.ts";
import type { BuildProgress } from "../image/build/progress.ts";

export const BUILD_OPTIONS: readonly OptionSpec[] = [
  {
    name: "tag",
    short: "t",
    type: "list",
    arg: "NAME[:TAG]",
    help: "Name the image (repeatable)",
  },
  {
    name: "file",
    short: "f",
    type: "string",
    arg: "FILE",
    help: "The Dockerfile (default CONTEXT/Dockerfile; - reads stdin)",
  },
  {
    name: "build-arg",
    type: "list",
    arg: "K=V",
    help: "Set a build argument (K alone: take it from ctr's environment)",
  },
  { name: "target", type: "string", arg: "STAGE", help: "Build this stage and what it needs" },
  { name: "no-cache", type: "bool", help: "Run every step again (the results are still cached)" },
  { name: "pull", type: "bool", help: "Pull base images even when the store has them" },
  {
    name: "network",
    type: "string",
    arg: "MODE",
    help: "Network of RUN steps: none (default: lo only), host, or bridge (ctr's default network)",
  },
  { name: "label", type: "list", arg: "K=V", help: "Set a label on the image" },
  {
    name: "platform",
    type: "string",
    arg: "OS/ARCH[/VARIANT]",
    help: "The platform of the image (base images are pulled for it; RUN is not emulated)",
  },
  {
    name: "quiet",
    short: "q",
    type: "bool",
    help: "Print no progress; print the image ID on success",
  },
  {
    name: "progress",
    type: "string",
    arg: "MODE",
    help: "auto (default), plain, tty or quiet",
  },
  { name: "iidfile", type: "string", arg: "FILE", help: "Write the image ID to FILE" },
  {
    name: "rm",
    type: "bool",
    help: "Accepted for docker compatibility: ctr removes every step's container",
  },
  { name: "force-rm", type: "bool", help: "Accepted for docker compatibility (see --rm)" },
  { name: "help", type: "bool", help: "Print usage" },
];

/** Usage of `ctr build`. */
export const BUILD_USAGE = `Usage: ctr build [OPTIONS] CONTEXT|-

Build an image from a Dockerfile and a context directory (or a tar on stdin).

Options:
${optionsHelp(BUILD_OPTIONS)}`;

const BUILDER_USAGE = `Usage: ctr builder prune [-a] [-f]
       ctr builder build ...   (ctr build)

Remove the build cache: its entries, the directories of RUN --mount=type=cache,
what crashed builds left, and the layers only the cache kept.`;

/** A `ctr build` command line, checked. */
export interface BuildArgs {
  /** The context directory, or "-" (stdin). */
  readonly context: string;
  /** The Dockerfile as given (undefined: CONTEXT/Dockerfile; "-": stdin). */
  readonly file?: string;
  /** Full references. */
  readonly tags: string[];
  readonly buildArgs: Record<string, string>;
  readonly target?: string;
  readonly noCache: boolean;
  readonly pull: boolean;
  readonly network: "none" | "host" | "bridge";
  readonly labels: Record<string, string>;
  readonly platform?: Platform;
  readonly quiet: boolean;
  readonly progress: "auto" | "plain" | "tty" | "quiet";
  readonly iidfile?: string;
}

/** Parses `ctr build` arguments; `env` gives the values of `--build-arg K` without `=`. Pure. */
export function parseBuildArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string>> = {},
): BuildArgs {
  const { opts, positionals } = parseArgs(argv, BUILD_OPTIONS);
  if (positionals.length !== 1) {
    throw new UsageError(
      `"ctr build" requires exactly 1 argument: the context directory, or - for stdin`,
    );
  }
  const list = (k: string) => (opts[k] as string[] | undefined) ?? [];
  const str = (k: string) => opts[k] as string | undefined;
  const context = positionals[0];
  const file = str("file");
  if (context === "-" && file === "-") {
    throw new UsageError("invalid argument: can't use stdin for both build context and dockerfile");
  }
  const tags = list("tag").map((t) => {
    try {
      const ref = normalizeReference(t);
      if (ref.digest) throw new Error("a tag cannot hold a digest");
      return formatReference(ref);
    } catch (e) {
      throw new UsageError(`invalid tag ${JSON.stringify(t)}: ${(e as Error).message}`);
    }
  });
  const buildArgs: Record<string, string> = {};
  for (const a of list("build-arg")) {
    const eq = a.indexOf("=");
    if (eq === 0 || a === "") throw new UsageError(`invalid --build-arg ${JSON.stringify(a)}`);
    if (eq > 0) buildArgs[a.slice(0, eq)] = a.slice(eq + 1);
    else if (env[a] !== undefined) buildArgs[a] = env[a];
  }
  const network = str("network") ?? "default";
  if (!["default", "none", "host", "bridge"].includes(network)) {
    throw new UsageError(
      `invalid --network ${JSON.stringify(network)}: expected none, host or bridge`,
    );
  }
  for (const l of list("label")) {
    const p = labelProblem(l);
    if (p) throw new UsageError(p);
  }
  let platform: Platform | undefined;
  if (str("platform") !== undefined) {
    try {
      platform = parsePlatform(str("platform")!);
    } catch (e) {
      throw new UsageError(`invalid --platform: ${(e as Error).message}`);
    }
  }
  const progress = str("progress") ?? "auto";
  if (!["auto", "plain", "tty", "quiet"].includes(progress)) {
    throw new UsageError(
      `invalid --progress ${JSON.stringify(progress)}: expected auto, plain, tty or quiet`,
    );
  }
  return {
    context,
    ...(file !== undefined && { file }),
    tags,
    buildArgs,
    ...(str("target") !== undefined && { target: str("target") }),
    noCache: opts["no-cache"] === true,
    pull: opts.pull === true,
    network: network === "default" ? "none" : network as BuildArgs["network"],
    labels: keyValues(list("label")),
    ...(platform && { platform }),
    quiet: opts.quiet === true,
    progress: progress as BuildArgs["progress"],
    ...(str("iidfile") !== undefined && { iidfile: str("iidfile") }),
  };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The lines of the Dockerfile around an instruction, as BuildKit shows them. */
export function dockerfileExcerpt(
  text: string,
  file: string,
  at: { line: number; endLine?: number },
): string {
  const lines = text.replace(/\n$/, "").split("\n");
  const end = Math.min(at.endLine ?? at.line, lines.length);
  const from = Math.max(1, at.line - 2), to = Math.min(lines.length, end + 2);
  const width = String(to).length;
  const rows: string[] = [];
  for (let n = from; n <= to; n++) {
    const mark = n >= at.line && n <= end ? ">>>" : "   ";
    rows.push(` ${String(n).padStart(width + 2)} | ${mark} ${lines[n - 1] ?? ""}`.trimEnd());
  }
  const rule = "-".repeat(20);
  return `${file}:${at.line}${end > at.line ? `-${end}` : ""}\n${rule}\n${
    rows.join("\n")
  }\n${rule}\n`;
}

/** Runs `ctr build`; returns the exit code (docker's: 1 for a failed build). */
export async function buildCommand(argv: readonly string[], g: Globals): Promise<number> {
  if (argv.includes("--help")) {
    console.log(BUILD_USAGE);
    return 0;
  }
  const a = parseBuildArgs(argv, Deno.env.toObject());
  checkBuildUser();
  const [x, { buildProgress }, { removeTree }] = await Promise.all([
    import("../image/build/executor.ts"),
    import("../image/build/progress.ts"),
    import("../os/tree.ts"),
  ]);
  const tmp = x.makeBuildTemp(g.root);
  const abort = new AbortController();
  // The first signal stops the build cleanly; a second one does not wait for that.
  const onSignal = () => abort.signal.aborted ? Deno.exit(130) : abort.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  const mode = a.quiet || a.progress === "quiet"
    ? "quiet"
    : a.progress === "auto"
    ? (Deno.stderr.isTerminal() ? "tty" : "plain")
    : a.progress;
  const progress = buildProgress(mode, Deno.stderr);
  let dockerfile: BuildDockerfile = { text: "", name: "Dockerfile" };
  try {
    // The context and the Dockerfile.
    let context = a.context;
    if (a.context === "-") {
      const input = `${tmp}/stdin`;
      Deno.writeFileSync(input, await readAll(Deno.stdin.readable));
      ({ context, dockerfile } = await streamContext(input, tmp, a.file));
    } else {
      try {
        if (!Deno.statSync(context).isDirectory) throw new Error("not a directory");
      } catch (e) {
        throw new UsageError(
          `unable to prepare context: path ${JSON.stringify(context)} not found (${
            (e as Error).message
          })`,
        );
      }
      if (a.file === "-") {
        dockerfile = {
          text: new TextDecoder().decode(await readAll(Deno.stdin.readable)),
          name: "Dockerfile",
        };
      } else {
        const path = a.file ?? `${context.replace(/\/+$/, "")}/Dockerfile`;
        dockerfile = { text: readText(path, path), name: baseName(path), path };
      }
    }
    const result = await buildImage(g, {
      ...a,
      context,
      dockerfile,
      progress,
      signal: abort.signal,
    });
    progress.close();
    if (a.iidfile) Deno.writeTextFileSync(a.iidfile, result.id);
    if (a.quiet) console.log(result.id);
    return 0;
  } catch (e) {
    progress.close();
    if (e instanceof x.BuildError) {
      const report = buildErrorReport(e, dockerfile);
      if (report) console.error(report.trimEnd());
    }
    throw e;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    removeTree(tmp);
  }
}

/** Refuses a build by any user but root (the layer writer needs it). */
export function checkBuildUser(): void {
  if (Deno.uid() !== 0) {
    throw new UsageError(
      "ctr build needs root (uid 0): rootless, its RUN steps' layers would hold the user's " +
        "subordinate ids, which the layer writer does not map back yet; run it with sudo",
    );
  }
}

/** A build's Dockerfile: its text, its name in messages, its host path (for its .dockerignore). */
export interface BuildDockerfile {
  readonly text: string;
  readonly name: string;
  readonly path?: string;
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1) || "Dockerfile";
}

/**
 * The context of a build read from a stream saved in `input` (stdin, an
 * API request's body): a tar (any compression) unpacked under `tmp` (no
 * entry lands outside it), its Dockerfile `file` (default `Dockerfile`);
 * anything else is the Dockerfile itself, with an empty context.
 */
export async function streamContext(
  input: string,
  tmp: string,
  file?: string,
): Promise<{ context: string; dockerfile: BuildDockerfile }> {
  const { detectArchive, unpackContext } = await import("../image/build/context.ts");
  const context = `${tmp}/context`;
  if (await detectArchive(input) !== undefined) {
    const f = await Deno.open(input);
    await unpackContext(f.readable, context);
    const name = file ?? "Dockerfile";
    const path = `${context}/${name.replace(/^\/+/, "")}`;
    return { context, dockerfile: { text: readText(path, name), name: baseName(name), path } };
  }
  Deno.mkdirSync(context);
  const text = new TextDecoder().decode(Deno.readFileSync(input));
  return { context, dockerfile: { text, name: "Dockerfile" } };
}

/** What {@link buildImage} builds, and where it reports. */
export interface BuildRequest
  extends Omit<BuildArgs, "context" | "file" | "quiet" | "progress" | "iidfile"> {
  /** The context directory. */
  readonly context: string;
  readonly dockerfile: BuildDockerfile;
  readonly progress: BuildProgress;
  /** Aborting interrupts the build. */
  readonly signal?: AbortSignal;
  /** Credentials for pulling base images from a registry (default: the saved ones). */
  readonly credentials?: (domain: string) => Credentials | undefined;
}

/**
 * Runs ctr's builder on a context directory: RUN steps in containers of the
 * engine (as `ctr run` makes them), base images pulled as `ctr pull` does.
 */
export async function buildImage(g: Globals, r: BuildRequest): Promise<BuildResult> {
  // Loaded side by side: a build's modules are most of its start-up time.
  const [{ Store }, x, step] = await Promise.all([
    import("../image/store.ts"),
    import("../image/build/executor.ts"),
    import("../engine/build_step.ts"),
  ]);
  const stepHost = step.readStepHost(g.root, g.stateDir);
  return await x.build({
    store: Store.open(g.root),
    context: r.context,
    dockerfile: r.dockerfile,
    tags: r.tags,
    buildArgs: r.buildArgs,
    ...(r.target !== undefined && { target: r.target }),
    noCache: r.noCache,
    pull: r.pull,
    network: r.network,
    labels: r.labels,
    ...(r.platform && { platform: r.platform }),
    progress: r.progress,
    runner: (req, onSuccess) => step.runBuildStep(req, stepHost, onSuccess),
    pullImage: async (ref, o) => {
      const { pull } = await import("./registry.ts");
      const p = await pull(g, ref, {
        ...(o.platform && { platform: formatPlatform(o.platform) }),
        progress: o.progress,
        credentials: r.credentials?.(parseReference(ref).domain),
      });
      return p.name ?? p.manifest;
    },
    ...(r.signal && { signal: r.signal }),
  });
}

/** What a failed build shows besides its message: the step's last output, the Dockerfile's lines. */
export function buildErrorReport(e: BuildError, dockerfile: BuildDockerfile): string {
  let report = "";
  const w = e.where;
  if (w.step && w.tail && w.tail.length > 0) {
    report += `------\n > ${w.step}:\n${w.tail.join("\n")}\n------\n`;
  }
  if (w.line !== undefined) {
    report += dockerfileExcerpt(dockerfile.text, dockerfile.name, {
      line: w.line,
      ...(w.endLine !== undefined && { endLine: w.endLine }),
    });
  }
  return report;
}

function readText(path: string, shown: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    throw new UsageError(`Cannot read the Dockerfile ${shown}: ${(e as Error).message}`);
  }
}

/** Runs `ctr builder prune`. */
/** The options of `ctr builder prune` (the whole cache goes either way: it has no roots). */
export const BUILDER_PRUNE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "all",
    short: "a",
    type: "bool",
    help: "Remove all unused build cache, not just dangling ones",
  },
  { name: "force", short: "f", type: "bool", help: "Do not prompt for confirmation" },
];

export async function builderCommand(argv: readonly string[], g: Globals): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "build") return await buildCommand(rest, g); // docker's `builder build`
  if (sub === undefined || sub === "--help" || rest.includes("--help")) {
    console.log(BUILDER_USAGE);
    return sub === undefined ? 125 : 0;
  }
  if (sub !== "prune") {
    throw new UsageError(
      `unknown builder command: ${JSON.stringify(sub)} (expected build or prune)`,
    );
  }
  parseArgs(rest, BUILDER_PRUNE_OPTIONS);
  const { pruneBuildCache } = await import("../engine/build_prune.ts");
  const { humanSize } = await import("../image/progress.ts");
  const r = await pruneBuildCache(g.root);
  if (r.entries.length > 0) {
    console.log("Deleted build cache objects:");
    for (const k of r.entries) console.log(k.slice(7, 32));
  }
  console.log(`Total reclaimed space: ${humanSize(r.bytes)}`);
  return 0;
}
