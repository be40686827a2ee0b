/**
 * `ctr run` execution: parse, check, print the plan or run the container.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { dryRun, runContainer } from "../engine/container.ts";
import { RunError } from "../runtime/errors.ts";
import type { ResolvedImage } from "../image/images.ts";
import { optionsHelp, UsageError } from "./args.ts";
import { trace } from "../trace.ts";
import { DETACHED_ENV } from "../config/container.ts";
import { parseRunArgs, readRunHost, RUN_OPTIONS } from "./run.ts";
import { runConfig, runImageRef } from "../config/docker_run.ts";
import { mergeRunOptions, type RunOptions, runOptionsArgv } from "../config/run_options.ts";

const USAGE = `Usage: ctr run [OPTIONS] IMAGE [COMMAND] [ARG...]
       ctr run [OPTIONS] --rootfs DIR COMMAND [ARG...]

Run a command in a new container.

Options:
${optionsHelp(RUN_OPTIONS)}`;

/** Runs `ctr run`; returns the container's exit code. */
export async function runCommand(argv: readonly string[], g: Globals): Promise<number> {
  if (argv.includes("--help")) {
    console.log(USAGE);
    return 0;
  }
  trace("run: modules loaded");
  let options = parseRunArgs(argv);
  if (options.flags.spec !== undefined) {
    options = await withSpec(options, options.flags.spec, g);
    argv = runOptionsArgv(options);
  }
  const opts = options.flags;
  if (opts.detach && !opts["dry-run"] && !Deno.env.get(DETACHED_ENV)) {
    // Set up in a process of its own that becomes the container's watcher.
    const { runInBackground } = await import("../engine/detach.ts");
    const { id, code } = await runInBackground(["run", ...argv], g);
    if (id) console.log(id);
    return code;
  }
  const { ref, pull } = runImageRef(options);
  let image: ResolvedImage | undefined;
  if (ref !== undefined) {
    const { openStore, resolveImage, NoSuchImageError } = await import("../image/mod.ts");
    const store = openStore(g.root);
    if (pull === "always") {
      image = await resolveImage(store, await pullImage(ref, g, false), { lease: true });
    } else {
      try {
        image = await resolveImage(store, ref, { lease: true });
      } catch (e) {
        if (!(e instanceof NoSuchImageError)) throw e;
        if (pull === "never") {
          throw new RunError(`Unable to find image '${ref}' locally (--pull never)`, 125);
        }
        image = await resolveImage(store, await pullImage(ref, g, true), { lease: true });
      }
    }
  }
  try {
    return await run(options, g, image);
  } finally {
    image?.release();
  }
}

/**
 * The options of `run --spec FILE [NAME]`: the spec's, then those of the
 * command line on top (its lists add up, its other flags win); the spec's
 * image and command.
 */
async function withSpec(user: RunOptions, file: string, g: Globals): Promise<RunOptions> {
  if (user.args.length > 1) {
    throw new UsageError("with --spec, the only argument is the name of a container in the file");
  }
  const { specRunOptions } = await import("./compose.ts");
  const spec = await specRunOptions(file, user.args[0], g);
  const { spec: _file, ...flags } = user.flags;
  // In the foreground unless -d is given here; a restart policy is for detached containers.
  const { detach: _detach, restart, ...specFlags } = spec.flags;
  return mergeRunOptions(
    { flags: { ...specFlags, ...(user.flags.detach ? { restart } : {}) }, args: spec.args },
    { flags, args: [] },
  );
}

/** As docker: says the image is missing, pulls it (progress on stderr); returns what to resolve. */
async function pullImage(ref: string, g: Globals, missing: boolean): Promise<string> {
  const { familiarString, normalizeReference } = await import("../image/reference.ts");
  let shown: string;
  try {
    shown = familiarString(normalizeReference(ref));
  } catch {
    // Not a name (an image ID): nothing to pull.
    throw new RunError(`Unable to find image '${ref}' locally`, 125);
  }
  if (missing) console.error(`Unable to find image '${shown}' locally`);
  const { pull } = await import("./registry.ts");
  try {
    const r = await pull(g, ref);
    return r.name ?? r.manifest;
  } catch (e) {
    throw new RunError((e as Error).message, 125);
  }
}

async function run(options: RunOptions, g: Globals, image?: ResolvedImage): Promise<number> {
  const req = runConfig(options, readRunHost(g.root, g.stateDir, g.rootless), image);
  trace("run: config");
  if (req.dryRun) {
    console.log(dryRun(req.config));
    return 0;
  }
  const exposedPorts = Object.keys(image?.config.config?.ExposedPorts ?? {});
  const record = {
    restartPolicy: req.restart,
    labels: req.labels,
    volumes: req.volumes,
    securityOpt: req.securityOpt,
    ...(exposedPorts.length > 0 && { exposedPorts }),
  };
  if (Deno.env.get(DETACHED_ENV)) {
    const { startDetached } = await import("../engine/detach.ts");
    return await startDetached(req.config, g, {
      existing: false,
      report: true,
      record: { ...record, autoRemove: req.remove },
      log: req.log,
    });
  }
  if (req.restart && req.restart.name !== "no") {
    throw new UsageError("--restart needs -d: ctr restarts detached containers");
  }
  return await runContainer(req.config, {
    record,
    remove: req.remove,
    stateDir: g.stateDir,
    hooks: {
      started(pid) {
        if (req.pidfile) Deno.writeTextFileSync(req.pidfile, `${pid}\n`);
      },
    },
  });
}
