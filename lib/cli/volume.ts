/**
 * `ctr volume create|ls|inspect|rm|prune`: named volumes, with docker's
 * output. A volume is in use while a recorded container names it.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { humanSize } from "../image/progress.ts";
import { NoSuchVolumeError, type Volume, volumesInUse, VolumeStore } from "../engine/volume.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { volumeEvent } from "../engine/events.ts";
import { keyValueOptions, parseLabels } from "../config/rules.ts";
import { formatList, VOLUME_LIST } from "../format/mod.ts";
import { Filters, labelsMatch } from "./filters.ts";
import { filterOption, INSPECT_FORMAT, LIST_FORMAT, printInspected, printLines } from "./output.ts";

/** The options of `ctr volume create`. */
export const VOLUME_CREATE_OPTIONS: readonly OptionSpec[] = [
  { name: "label", type: "list", arg: "K=V", help: "Set metadata on the volume" },
  { name: "name", type: "string", arg: "NAME", help: "The volume's name (or give it as NAME)" },
  { name: "driver", short: "d", type: "string", arg: "local", help: "Only local" },
  {
    name: "opt",
    short: "o",
    type: "list",
    arg: "K=V",
    help: "Set driver specific options (type, device, o: what is mounted while it is used)",
  },
];
/** The keys of `volume ls --filter` (docker's). */
export const VOLUME_FILTERS = ["dangling", "driver", "label", "name"];

/** The options of `ctr volume ls`. */
export const VOLUME_LS_OPTIONS: readonly OptionSpec[] = [
  filterOption(VOLUME_FILTERS),
  LIST_FORMAT,
  { name: "quiet", short: "q", type: "bool", help: "Only show volume names" },
];
/** The options of `ctr volume inspect`. */
export const VOLUME_INSPECT_OPTIONS: readonly OptionSpec[] = [
  INSPECT_FORMAT,
];
/** The options of `ctr volume rm`. */
export const VOLUME_RM_OPTIONS: readonly OptionSpec[] = [
  {
    name: "force",
    short: "f",
    type: "bool",
    help: "Ignore volumes that do not exist (one in use is never removed)",
  },
];
/** The options of `ctr volume prune`. */
export const VOLUME_PRUNE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "force",
    short: "f",
    type: "bool",
    help: "Confirm: ctr never prompts, so prune requires it",
  },
  {
    name: "all",
    short: "a",
    type: "bool",
    help: "Accepted for docker compatibility: every unused volume is removed",
  },
];

/** Usage of the volume commands. */
export const VOLUME_USAGE = `Usage:
  ctr volume create [--label K=V]... [-o K=V]... [NAME]
                                              Create a volume (a random name when none is given)
  ctr volume ls [-q] [--format F] [-f K=V]    List volumes
  ctr volume inspect [-f TEMPLATE] NAME...    Show volumes as JSON
  ctr volume rm [-f] NAME...                  Remove volumes that no container uses
  ctr volume prune -f                         Remove every volume that no container uses

Use a volume with 'ctr run -v NAME:/path' (created when missing). A volume is in use while a
container that mounts it exists, running or not; its data outlives the container. With
-o type=T -o device=D [-o o=OPTS], D is mounted on it while containers use it.

Options:
${optionsHelp([...VOLUME_CREATE_OPTIONS, ...VOLUME_LS_OPTIONS, ...VOLUME_RM_OPTIONS])}`;

/** One `ctr volume ls` item: docker's fields, labels as `k=v,k=v`. */
function lsItem(v: Volume): Record<string, string> {
  return {
    Driver: v.Driver,
    Labels: Object.keys(v.Labels).sort().map((k) => `${k}=${v.Labels[k]}`).join(","),
    Links: "N/A",
    Mountpoint: v.Mountpoint,
    Name: v.Name,
    Scope: v.Scope,
    Size: "N/A",
  };
}

/** `volume create`: checks the driver, makes the volume (or finds it) and records the event. */
export function createVolume(
  g: Globals,
  o: {
    name?: string;
    driver?: string;
    labels?: Record<string, string>;
    /** The local driver's options: type, device, o. */
    options?: Record<string, string>;
  },
): Volume {
  if (o.driver !== undefined && o.driver !== "local") {
    throw new UsageError(`unsupported volume driver ${JSON.stringify(o.driver)}: only local`);
  }
  const options = o.options ?? {};
  if (g.rootless && Object.keys(options).length > 0) {
    throw new UsageError(
      "volume options mount a filesystem, which needs root: a rootless volume is a directory",
    );
  }
  const v = new VolumeStore(g.root).create(o.name, o.labels ?? {}, options);
  volumeEvent(g.stateDir, v.Name, "create");
  return v;
}

/** The volumes `volume ls` lists with these filters (docker's keys and matching). */
export function filterVolumes(g: Globals, f: Filters): Volume[] {
  const dangling = f.bool("dangling");
  const used = dangling === undefined ? new Map() : volumesInUse(g.stateDir);
  return new VolumeStore(g.root).list().filter((v) =>
    f.match("name", (n) => v.Name.includes(n)) &&
    f.match("driver", (d) => d === v.Driver) &&
    labelsMatch(f, v.Labels) &&
    (dangling === undefined || dangling !== used.has(v.Name))
  );
}

/** `volume rm` of one volume: refused while a recorded container names it; the event recorded. */
export function removeVolume(g: Globals, name: string): void {
  // Read under the store's lock, as late as possible: containers come and go meanwhile.
  new VolumeStore(g.root).remove(name, (n) => volumesInUse(g.stateDir).get(n)?.[0]);
  volumeEvent(g.stateDir, name, "destroy");
}

/** `volume prune`: every volume that no recorded container names; the events recorded. */
export function pruneVolumes(
  g: Globals,
  select: (v: Volume) => boolean = () => true,
): { removed: string[]; bytes: number; errors: string[] } {
  const store = new VolumeStore(g.root);
  const keep = new Set(volumesInUse(g.stateDir).keys());
  for (const v of store.list()) if (!select(v)) keep.add(v.Name);
  const r = store.prune(keep);
  for (const name of r.removed) volumeEvent(g.stateDir, name, "destroy");
  return r;
}

/** Runs one volume command; returns the exit code (1 when some of several names failed). */
// deno-lint-ignore require-await -- async like every other command, for the dispatcher
export async function volumeCommand(argv: readonly string[], g: Globals): Promise<number> {
  if (argv.includes("--help")) {
    console.log(VOLUME_USAGE);
    return 0;
  }
  const [sub, ...rest] = argv;
  const store = new VolumeStore(g.root);
  switch (sub) {
    case "create": {
      const { opts, positionals } = parseArgs(rest, VOLUME_CREATE_OPTIONS);
      if (positionals.length > 1) {
        throw new UsageError(`"ctr volume create" accepts at most one NAME`);
      }
      const flagName = opts.name as string | undefined;
      if (flagName !== undefined && positionals.length && positionals[0] !== flagName) {
        throw new UsageError(
          `conflicting volume names: --name ${flagName} and ${positionals[0]} (give one)`,
        );
      }
      const v = createVolume(g, {
        name: flagName ?? positionals[0],
        driver: opts.driver as string | undefined,
        labels: parseLabels(opts.label as string[] | undefined),
        options: keyValueOptions(opts.opt as string[] | undefined),
      });
      console.log(v.Name);
      return 0;
    }
    case "ls":
    case "list": {
      const { opts, positionals } = parseArgs(rest, VOLUME_LS_OPTIONS);
      if (positionals.length) throw new UsageError(`"ctr volume ls" takes no arguments`);
      const f = Filters.parse(opts.filter as string[] | undefined, VOLUME_FILTERS);
      const volumes = filterVolumes(g, f);
      if (opts.quiet) {
        for (const v of volumes) console.log(v.Name);
      } else {
        printLines(
          formatList(opts.format as string | undefined, volumes.map(lsItem), {
            kind: VOLUME_LIST,
          }),
        );
      }
      return 0;
    }
    case "inspect": {
      const { opts, positionals } = parseArgs(rest, VOLUME_INSPECT_OPTIONS);
      if (!positionals.length) {
        throw new UsageError(`"ctr volume inspect" requires at least one NAME`);
      }
      // As docker: the volumes found are printed, each missing one is an error.
      const found: Volume[] = [];
      let code = 0;
      for (const name of positionals) {
        try {
          found.push(store.get(name));
        } catch (e) {
          console.error(`ctr: ${(e as Error).message}`);
          code = 1;
        }
      }
      return printInspected(found, opts.format as string | undefined) || code;
    }
    case "rm":
    case "remove": {
      const { opts, positionals } = parseArgs(rest, VOLUME_RM_OPTIONS);
      if (!positionals.length) throw new UsageError(`"ctr volume rm" requires at least one NAME`);
      let code = 0;
      for (const name of positionals) {
        try {
          removeVolume(g, name);
          console.log(name);
        } catch (e) {
          // docker prints a forced removal of a missing volume as done.
          if (opts.force && e instanceof NoSuchVolumeError) {
            console.log(name);
            continue;
          }
          console.error(`ctr: ${(e as Error).message}`);
          code = 1;
        }
      }
      return code;
    }
    case "prune": {
      const { opts, positionals } = parseArgs(rest, VOLUME_PRUNE_OPTIONS);
      if (positionals.length) throw new UsageError(`"ctr volume prune" takes no arguments`);
      if (!opts.force) {
        throw new UsageError(
          `"ctr volume prune" removes every volume that no container uses, with its data; ` +
            `ctr never prompts: confirm with -f or --force`,
        );
      }
      const r = pruneVolumes(g);
      if (r.removed.length) console.log(`Deleted Volumes:\n${r.removed.join("\n")}\n`);
      console.log(`Total reclaimed space: ${humanSize(r.bytes)}`);
      for (const e of r.errors) console.error(`ctr: ${e}`);
      return r.errors.length ? 1 : 0;
    }
  }
  throw new UsageError(
    `unknown volume command: ${
      JSON.stringify(sub ?? "")
    } (expected create, ls, inspect, rm or prune)`,
  );
}
