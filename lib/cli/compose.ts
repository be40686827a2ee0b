/**
 * `ctr up -f FILE` and `ctr down -f FILE`: the containers and networks of a
 * YAML spec (lib/config/compose.ts). The whole file is checked before anything starts:
 * a bad file reports every problem with its line and column and changes
 * nothing. Containers are labelled with their project, so `down` finds what
 * `up` made even after the file changed.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { isRunning, removeContainer, stopContainer } from "../engine/lifecycle.ts";
import {
  containerName,
  networkName,
  runOptionsFor,
  type Spec,
  startLevels,
} from "../config/compose.ts";
import { mergeRunOptions, runOptionsArgv } from "../config/run_options.ts";
import { StateDir } from "../engine/state.ts";
import { waitOffThread } from "../runtime/spawn.ts";
import { ensureNetworks, loadSpec, status } from "./spec_file.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";

/** The options of `ctr up` and `ctr down`. */
export const COMPOSE_OPTIONS: readonly OptionSpec[] = [
  { name: "file", short: "f", type: "string", arg: "FILE", help: "The spec (YAML)" },
  {
    name: "time",
    short: "t",
    type: "string",
    arg: "SECONDS",
    help: "down: seconds to wait before killing (default 10)",
  },
  { name: "help", type: "bool", help: "Print usage" },
];

/** The label that ties a container to its project. */
export const PROJECT_LABEL = "ctr.project";
const SERVICE_LABEL = "ctr.service";

/**
 * Starts one container of the file as `ctr run -d` would, in this process
 * (no ctr started per container): created from its run flags, then started
 * with its watcher. A running one is left alone; a stopped one is made again
 * from the file, which may have changed. Returns its exit status.
 */
async function upOne(spec: Spec, key: string, dir: StateDir, g: Globals): Promise<number> {
  const name = containerName(spec, key);
  const existing = dir.list().find((s) => s.name === name);
  if (existing && isRunning(existing)) {
    status("Container", name, "Running");
    return 0;
  }
  if (existing) await removeContainer(dir, existing, true);
  const options = mergeRunOptions(runOptionsFor(spec, key), {
    flags: { label: [`${PROJECT_LABEL}=${spec.name}`, `${SERVICE_LABEL}=${key}`] },
    args: [],
  });
  const { detach: _detached, ...flags } = options.flags;
  const { createFromArgs } = await import("./run_command.ts");
  const { startExisting } = await import("../engine/detach.ts");
  try {
    const made = await createFromArgs(runOptionsArgv({ flags, args: options.args }), g);
    for (const w of made.warnings) console.error(`WARNING: ${w}`);
    const s = dir.get(made.id);
    if (!s) throw new Error("its record went away before it started");
    await startExisting(dir, s, g);
  } catch (e) {
    console.error(`ctr: container ${name}: ${(e as Error).message}`);
    // A RunError carries docker's status (125: ctr's own failure, 126/127: the command's).
    const code = (e as { exitCode?: unknown }).exitCode;
    return typeof code === "number" && code > 0 ? code : 125;
  }
  status("Container", name, "Started");
  return 0;
}

/**
 * Pulls the images the file names that the store lacks, each once, before
 * anything starts (as docker compose does): the containers of a group start
 * at once, and would otherwise each pull the same image.
 */
async function ensureImages(spec: Spec, g: Globals): Promise<void> {
  const { Store } = await import("../image/store.ts");
  const { findImage } = await import("../image/find.ts");
  for (const ref of new Set(spec.containers.map((c) => c.image))) {
    if (findImage(Store.open(g.root).readIndex(), ref)) continue;
    const { pull } = await import("./registry.ts");
    await pull(g, ref);
    status("Image", ref, "Pulled");
  }
}

async function up(spec: Spec, g: Globals): Promise<number> {
  const dir = new StateDir(g.stateDir);
  await ensureNetworks(spec, g);
  await ensureImages(spec, g);
  // A group starts at once: what its containers depend on is already running, and no
  // container's setup stops the others'.
  waitOffThread();
  for (const level of startLevels(spec)) {
    const codes = await Promise.all(level.map((key) => upOne(spec, key, dir, g)));
    const failed = codes.find((c) => c !== 0);
    if (failed !== undefined) {
      console.error("ctr: the containers started before keep running");
      return failed;
    }
  }
  return 0;
}

async function down(spec: Spec, g: Globals, timeoutS: number): Promise<number> {
  const dir = new StateDir(g.stateDir);
  const mine = dir.list().filter((s) => s.labels?.[PROJECT_LABEL] === spec.name);
  // Dependents first: the start groups in reverse, after anything the file no longer names.
  // A group stops at once, so that a project takes one stop timeout per group, not per container.
  const levels = startLevels(spec).reverse().map((l) => l.map((k) => containerName(spec, k)));
  const named = new Set(levels.flat());
  const groups = [mine.filter((s) => !named.has(s.name))];
  for (const l of levels) groups.push(mine.filter((s) => l.includes(s.name)));
  let code = 0;
  for (const group of groups) {
    await Promise.all(group.map(async (s) => {
      try {
        if (isRunning(s)) await stopContainer(dir, s, timeoutS);
        await removeContainer(dir, dir.get(s.id) ?? s, true);
        status("Container", s.name, "Removed");
      } catch (e) {
        console.error(`ctr: ${s.name}: ${(e as Error).message}`);
        code = 1;
      }
    }));
  }
  if (spec.networks.length) {
    const { NetworkStore } = await import("../network/mod.ts");
    const store = new NetworkStore({ root: g.root, stateDir: g.stateDir });
    for (const n of spec.networks) {
      const name = networkName(spec, n.name);
      if (!store.find(name)) continue;
      try {
        await store.remove(name);
        status("Network", name, "Removed");
      } catch (e) {
        console.error(`ctr: network ${name}: ${(e as Error).message}`);
        code = 1;
      }
    }
  }
  return code;
}

/** Runs `ctr up` or `ctr down`. */
export async function composeCommand(
  cmd: "up" | "down",
  argv: readonly string[],
  g: Globals,
): Promise<number> {
  const { opts, positionals } = parseArgs(argv, COMPOSE_OPTIONS);
  if (opts.help) {
    console.log(`Usage: ctr ${cmd} -f FILE.yaml`);
    return 0;
  }
  if (positionals.length) throw new UsageError(`"ctr ${cmd}" takes no arguments: -f FILE`);
  const file = opts.file as string | undefined;
  if (!file) throw new UsageError(`"ctr ${cmd}" requires -f FILE`);
  if (Deno.uid() !== 0) throw new UsageError(`ctr ${cmd} needs root (uid 0): run it with sudo`);
  const spec = loadSpec(file);
  if (cmd === "up") return await up(spec, g);
  const t = opts.time as string | undefined;
  if (t !== undefined && !/^\d+$/.test(t)) throw new UsageError(`invalid -t ${JSON.stringify(t)}`);
  return await down(spec, g, t === undefined ? 10 : Number(t));
}
