/**
 * `ctr run` and `ctr create` execution: parse, check, print the plan, make
 * the container, and run it (in the foreground, detached, or detached with
 * this terminal attached when it has a pty).
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { createContainer, dryRun, runContainer } from "../engine/container.ts";
import { RunError } from "../runtime/errors.ts";
import type { ResolvedImage } from "../image/images.ts";
import { optionsHelp, UsageError } from "./args.ts";
import { trace } from "../trace.ts";
import { DETACHED_ENV } from "../config/container.ts";
import { parseRunArgs, readRunHost, RUN_OPTIONS } from "./run.ts";
import { runConfig, runImageRef, type RunRequest } from "../config/docker_run.ts";
import { mergeRunOptions, type RunOptions, runOptionsArgv } from "../config/run_options.ts";
import type { ContainerState } from "../engine/state.ts";
import { compareStrings } from "../os/order.ts";

/** The options in docker's order (alphabetical), for help. */
/** The options in docker's order (by name). Plain comparison: localeCompare would load ICU. */
const sorted = () => [...RUN_OPTIONS].sort((a, b) => compareStrings(a.name, b.name));

/** `ctr run --help`: built when asked for, not at every start. */
const usage = () =>
  `Usage: ctr run [OPTIONS] IMAGE [COMMAND] [ARG...]
       ctr run [OPTIONS] --rootfs DIR COMMAND [ARG...]

Run a command in a new container.

Options:
${optionsHelp(sorted())}`;

const createUsage = () =>
  `Usage: ctr create [OPTIONS] IMAGE [COMMAND] [ARG...]
       ctr create [OPTIONS] --rootfs DIR COMMAND [ARG...]

Create a new container ('ctr start' starts it).

Options:
${optionsHelp(sorted().filter((o) => o.name !== "detach" && o.name !== "dry-run"))}`;

/** Runs `ctr run`; returns the container's exit code. */
export async function runCommand(argv: readonly string[], g: Globals): Promise<number> {
  if (argv.includes("--help")) {
    console.log(usage());
    return 0;
  }
  trace("run: modules loaded");
  let options = parseRunArgs(argv);
  if (options.flags.spec !== undefined) {
    options = await withSpec(options, options.flags.spec, g);
    argv = runOptionsArgv(options);
  }
  const opts = options.flags;
  if (!opts["dry-run"] && !Deno.env.get(DETACHED_ENV) && opts.tty && !opts.detach) {
    // With a pty in the foreground the container runs detached and this terminal attaches
    // to it, as docker's client does (detach keys work). `-d` needs no process of its own:
    // the container's watcher is forked with it, and this one prints the id and ends.
    return await runAttached(options, argv, g);
  }
  const image = await resolveRunImage(options, g);
  try {
    return await run(options, g, image);
  } finally {
    image?.release();
  }
}

/** Runs `ctr create`: the container is made and recorded, not started; prints its id. */
export async function createCommand(argv: readonly string[], g: Globals): Promise<number> {
  if (argv.includes("--help")) {
    console.log(createUsage());
    return 0;
  }
  const made = await createFromArgs(argv, g);
  for (const w of made.warnings) console.error(`WARNING: ${w}`);
  console.log(made.id);
  return 0;
}

/**
 * `create`'s work, for the command line and the Engine API alike: docker's
 * run flags and arguments to a recorded, created container. `pull`: what to
 * do about a missing image (the API's clients pull for themselves: never).
 */
export async function createFromArgs(
  argv: readonly string[],
  g: Globals,
  o: { pull?: "never" } = {},
): Promise<{ id: string; name: string; warnings: readonly string[] }> {
  const options = parseRunArgs(argv);
  if (options.flags.detach || options.flags["dry-run"]) {
    throw new UsageError(`unknown flag: --${options.flags.detach ? "detach" : "dry-run"}`);
  }
  if (options.flags.spec !== undefined) throw new UsageError("unknown flag: --spec");
  const image = await resolveRunImage(
    o.pull ? { ...options, flags: { ...options.flags, pull: o.pull } } : options,
    g,
  );
  try {
    const req = runConfig(options, readRunHost(g.root, g.stateDir, g.rootless), image);
    let made: ContainerState | undefined;
    await withCidfile(req, async () => {
      made = await createContainer(req.config, {
        stateDir: g.stateDir,
        record: { ...recordOf(req, image), autoRemove: req.remove, ...logRecord(req) },
      });
      return 0;
    });
    return { id: made!.id, name: made!.name, warnings: req.warnings };
  } finally {
    image?.release();
  }
}

/** The image a command line names, found in the store or pulled per --pull. */
async function resolveRunImage(
  options: RunOptions,
  g: Globals,
): Promise<ResolvedImage | undefined> {
  const { ref, pull } = runImageRef(options);
  if (ref === undefined) return undefined;
  // Not mod.ts: the run of a stored image loads the store and its index only.
  const { Store } = await import("../image/store.ts");
  const { resolveImage, NoSuchImageError } = await import("../image/find.ts");
  const store = Store.open(g.root);
  if (pull === "always") {
    return await resolveImage(store, await pullImage(ref, g, false), { lease: true });
  }
  try {
    return await resolveImage(store, ref, { lease: true });
  } catch (e) {
    if (!(e instanceof NoSuchImageError)) throw e;
    if (pull === "never") {
      throw new RunError(`Unable to find image '${ref}' locally (--pull never)`, 125);
    }
    return await resolveImage(store, await pullImage(ref, g, true), { lease: true });
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
  const { specRunOptions } = await import("./spec_file.ts");
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

/** What a request records in the container's state beyond its config. */
function recordOf(req: RunRequest, image?: ResolvedImage): Partial<ContainerState> {
  const exposedPorts = Object.keys(image?.config.config?.ExposedPorts ?? {});
  return {
    ...(exposedPorts.length > 0 && { exposedPorts }),
    restartPolicy: req.restart,
    labels: req.labels,
    volumes: req.volumes,
    securityOpt: req.securityOpt,
    ...(req.stdinOnce && { stdinOnce: true }),
    ...(req.cidfile !== undefined && { cidfile: req.cidfile }),
  };
}

/** The log settings a detached (or created) container records. */
function logRecord(req: RunRequest): Partial<ContainerState> {
  return { logOptions: req.log, ...(req.noLog && { noLog: true }) };
}

/**
 * Runs `make` with the container's id in `--cidfile` (docker's: refused when
 * the file exists, removed again when the container is not made).
 */
async function withCidfile(req: RunRequest, make: () => Promise<number>): Promise<number> {
  const path = req.cidfile;
  if (path === undefined) return await make();
  try {
    Deno.writeTextFileSync(path, req.config.id, { createNew: true, mode: 0o644 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new RunError(
        `Container ID file found, make sure the other container isn't running or delete ${path}`,
        125,
      );
    }
    throw new RunError(`Failed to create the container ID file: ${(e as Error).message}`, 125);
  }
  try {
    return await make();
  } catch (e) {
    // Only a container that was never made takes its file with it.
    if (e instanceof RunError || e instanceof UsageError) {
      try {
        Deno.removeSync(path);
      } catch { /* gone */ }
    }
    throw e;
  }
}

/**
 * A foreground run with a pty: started detached with a watcher that waits
 * for this process, which attaches at once (docker's client does the same:
 * ctrl-p,ctrl-q leaves the container running, `ctr attach` comes back).
 */
async function runAttached(options: RunOptions, argv: readonly string[], g: Globals) {
  const o = options.flags;
  const { startAttached } = await import("./attach.ts");
  const stdin = o.interactive === true ||
    (o.attach ?? []).some((s) => s.toLowerCase() === "stdin");
  const list = (o.attach ?? []).map((s) => s.toLowerCase());
  return await startAttached(["run", ...argv], g, {
    streams: {
      stdin,
      stdout: list.length === 0 || list.includes("stdout"),
      stderr: list.length === 0 || list.includes("stderr"),
    },
    detachKeys: o["detach-keys"] ?? "ctrl-p,ctrl-q",
    sigProxy: o["sig-proxy"] !== false,
  });
}

async function run(options: RunOptions, g: Globals, image?: ResolvedImage): Promise<number> {
  const req = runConfig(options, readRunHost(g.root, g.stateDir, g.rootless), image);
  trace("run: config");
  if (req.dryRun) {
    console.log(dryRun(req.config));
    return 0;
  }
  for (const w of req.warnings) console.error(`WARNING: ${w}`);
  const record = recordOf(req, image);
  const writePid = (pid: number) => {
    if (req.pidfile) Deno.writeTextFileSync(req.pidfile, `${pid}\n`);
  };
  if (req.detach || Deno.env.get(DETACHED_ENV)) {
    const { startDetached } = await import("../engine/detach.ts");
    return await withCidfile(req, () =>
      startDetached(req.config, g, {
        existing: false,
        report: true,
        record: { ...record, autoRemove: req.remove, ...logRecord(req) },
        log: req.log,
        started: writePid,
      }));
  }
  if (req.restart && req.restart.name !== "no") {
    throw new UsageError("--restart needs -d: ctr restarts detached containers");
  }
  return await withCidfile(req, () =>
    runContainer(req.config, {
      record,
      remove: req.remove,
      stateDir: g.stateDir,
      sigProxy: req.sigProxy,
      hooks: { started: writePid },
    }));
}
