/**
 * `ctr container prune` and `ctr system prune`, with docker's options,
 * prompt and output; system prune also sweeps what crashed ctr processes
 * left with no record (lib/engine/prune.ts).
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { StateDir } from "../engine/state.ts";
import {
  parsePruneFilters,
  passes,
  pruneContainers,
  type PruneFilter,
  sweepOrphans,
} from "../engine/prune.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { confirm } from "./prompt.ts";

const FORCE: OptionSpec = {
  name: "force",
  short: "f",
  type: "bool",
  help: "Do not prompt for confirmation",
};

export const CONTAINER_PRUNE: readonly OptionSpec[] = [
  {
    name: "filter",
    type: "list",
    arg: "FILTER",
    help: 'Provide filter values (e.g. "until=<timestamp>")',
  },
  FORCE,
  { name: "help", type: "bool", help: "Print usage" },
];

export const SYSTEM_PRUNE: readonly OptionSpec[] = [
  {
    name: "all",
    short: "a",
    type: "bool",
    help: "Remove all unused images not just dangling ones",
  },
  {
    name: "filter",
    type: "list",
    arg: "FILTER",
    help: 'Provide filter values (e.g. "label=<key>=<value>")',
  },
  FORCE,
  { name: "volumes", type: "bool", help: "Prune volumes no container uses" },
  { name: "help", type: "bool", help: "Print usage" },
];

/** docker's sizes (go-units HumanSize: powers of 1000, 4 significant digits). */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let v = bytes, i = 0;
  while (v >= 1000 && i < units.length - 1) v /= 1000, i++;
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

function filters(values: unknown): PruneFilter {
  try {
    return parsePruneFilters((values as string[] | undefined) ?? []);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A section of docker's prune output: a title and one line per item, then a blank line. */
function section(title: string, lines: readonly string[]): void {
  if (lines.length) console.log(`${title}\n${lines.join("\n")}\n`);
}

/** `ctr container prune [-f] [--filter F]`. */
export async function containerPrune(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, CONTAINER_PRUNE);
  if (opts.help) {
    console.log(
      `Usage: ctr container prune [OPTIONS]\n\nRemove all stopped containers.\n\nOptions:\n${
        optionsHelp(CONTAINER_PRUNE)
      }`,
    );
    return 0;
  }
  if (positionals.length) throw new UsageError(`"ctr container prune" accepts no arguments`);
  const filter = filters(opts.filter);
  const warning =
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?";
  if (!opts.force && !(await confirm(warning))) return 0;
  const r = await pruneContainers(new StateDir(g.stateDir), filter);
  section("Deleted Containers:", r.deleted);
  console.log(`Total reclaimed space: ${humanSize(r.bytes)}`);
  for (const e of r.errors) console.error(`ctr: ${e}`);
  return r.errors.length ? 1 : 0;
}

/** The warning of `system prune`, as docker words it for these options. */
export function systemPruneWarning(
  o: { all: boolean; volumes: boolean; filters: string[] },
): string {
  const items = [
    "all stopped containers",
    "all networks not used by at least one container",
    ...(o.volumes ? ["all volumes not used by at least one container"] : []),
    o.all ? "all images without at least one container associated to them" : "all dangling images",
    o.all ? "all build cache" : "unused build cache",
  ];
  const f = o.filters.length
    ? `\n  Items to be pruned will be filtered with:\n${
      o.filters.map((x) => `  - ${x}`).join("\n")
    }\n`
    : "";
  return `WARNING! This will remove:\n${
    items.map((i) => `  - ${i}`).join("\n")
  }\n${f}\nAre you sure you want to continue?`;
}

/** `ctr system prune [-a] [-f] [--volumes] [--filter F]`. */
export async function systemCommand(argv: readonly string[], g: Globals): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "prune") {
    if (sub === undefined || sub === "--help") {
      console.log(
        "Usage: ctr system prune [OPTIONS]\n\nRemove unused data (see 'ctr system prune --help').",
      );
      return sub === undefined ? 125 : 0;
    }
    throw new UsageError(`unknown system command: ${JSON.stringify(sub)} (expected prune)`);
  }
  const { opts, positionals } = parseArgs(rest, SYSTEM_PRUNE);
  if (opts.help) {
    console.log(
      `Usage: ctr system prune [OPTIONS]\n\nRemove unused data: stopped containers, unused networks, dangling images (-a: unused ones) and the build cache, volumes (--volumes), and what crashed ctr processes left behind.\n\nOptions:\n${
        optionsHelp(SYSTEM_PRUNE)
      }`,
    );
    return 0;
  }
  if (positionals.length) throw new UsageError(`"ctr system prune" accepts no arguments`);
  const values = (opts.filter as string[] | undefined) ?? [];
  const filter = filters(values);
  if (opts.volumes && filter.until !== undefined) {
    throw new UsageError(`The "until" filter is not supported with "--volumes"`);
  }
  const all = opts.all === true, volumes = opts.volumes === true;
  if (!opts.force && !(await confirm(systemPruneWarning({ all, volumes, filters: values })))) {
    return 0;
  }
  const errors: string[] = [];
  let bytes = 0;
  const dir = new StateDir(g.stateDir);

  const c = await pruneContainers(dir, filter);
  section("Deleted Containers:", c.deleted);
  bytes += c.bytes;
  errors.push(...c.errors);

  const swept = await sweepOrphans({ root: g.root, stateDir: g.stateDir });
  section("Deleted Leftovers:", swept.removed.map((l) => `${l.kind} ${l.name}`));
  errors.push(...swept.errors);

  try {
    const { Nat, NetworkStore, pruneNetworks } = await import("../network/mod.ts");
    const store = new NetworkStore({ root: g.root, stateDir: g.stateDir });
    const n = await pruneNetworks({
      store,
      nat: new Nat({ stateDir: g.stateDir }),
      select: (net) => passes(filter, net.created),
    });
    section("Deleted Networks:", n.deleted.map((d) => d.name));
    const { networkEvent } = await import("../engine/events.ts");
    for (const d of n.deleted) networkEvent(g.stateDir, d, "destroy");
  } catch (e) {
    errors.push(`networks: ${(e as Error).message}`);
  }

  if (volumes) {
    const { VolumeStore, volumesInUse } = await import("../engine/volume.ts");
    const r = new VolumeStore(g.root).prune(new Set(volumesInUse(g.stateDir).keys()));
    section("Deleted Volumes:", r.removed);
    bytes += r.bytes;
    errors.push(...r.errors);
  }

  try {
    bytes += await pruneImages(g, dir, all, filter);
  } catch (e) {
    errors.push(`images: ${(e as Error).message}`);
  }

  console.log(`Total reclaimed space: ${humanSize(bytes)}`);
  for (const e of errors) console.error(`ctr: ${e}`);
  return errors.length ? 1 : 0;
}

/**
 * Dangling images (-a: every image no recorded container uses), then the
 * content nothing references, then the build cache: entries whose layer is
 * gone (-a: every entry, whose layers then go too). Returns the bytes freed.
 */
async function pruneImages(g: Globals, dir: StateDir, all: boolean, f: PruneFilter) {
  try {
    Deno.statSync(`${g.root}/images.json`);
  } catch {
    return 0; // no image was ever stored here
  }
  const { openStore, prune } = await import("../image/mod.ts");
  const store = openStore(g.root);
  let cache: import("../image/build/cache.ts").BuildCache | undefined;
  try {
    Deno.statSync(`${g.root}/build-cache`);
    cache = (await import("../image/build/cache.ts")).BuildCache.open(store);
  } catch { /* nothing was ever built here */ }
  const dropped = all && cache ? cache.prune({ all: true }).removed : [];
  // A container uses an image when it runs on the image's top layer.
  const used = new Set(dir.list().flatMap((s) => s.config?.layers ?? []));
  const r = await prune(store, {
    select: (img, named) =>
      (all || !named) && passes(f, img.created ?? img.loaded) &&
      !(img.layers.length > 0 && used.has(store.layerPath(img.layers[img.layers.length - 1]))),
    // The cache's layers stay while it is kept.
    keepLayers: cache && !all ? cache.layers() : undefined,
  });
  section("Deleted Images:", [
    ...r.untagged.map((n) => `untagged: ${n}`),
    ...r.images.map((d) => `deleted: ${d}`),
  ]);
  section("Deleted build cache objects:", [
    ...dropped,
    ...(cache && !all ? cache.prune().removed : []),
  ]);
  return r.bytes;
}
