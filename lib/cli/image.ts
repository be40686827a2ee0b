/**
 * The image commands: `ctr images`, `load`, `save`, `tag`, `rmi`, and
 * `ctr image ls|inspect|rm|prune|load|save|tag|import|...`, with docker's
 * output, `--format` and `--filter`, and the image events docker records.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
// `ctr images` reads the store's index only: the archive, registry and schema code is loaded
// by the commands that use it.
import type { PruneResult, RemoveResult } from "../image/mod.ts";
import type { ImageRecord } from "../image/store.ts";
import { Store } from "../image/store.ts";
import {
  findImage,
  type ImageSummary,
  inspectImage,
  listImages,
  storedConfig,
} from "../image/find.ts";
import { humanSize } from "../image/progress.ts";
import { BuildCache } from "../image/build/cache.ts";
import { familiarString, normalizeReference } from "../image/reference.ts";
import { imageEvent } from "../engine/events.ts";
import type { PruneFilter } from "../engine/prune.ts";
import { decimalSize, formatList, goTimeString, humanDuration, IMAGE_LIST } from "../format/mod.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { Filters, labelsMatch, referenceMatches } from "./filters.ts";
import { filterOption, INSPECT_FORMAT, LIST_FORMAT, printInspected, printLines } from "./output.ts";

/** The options of `ctr load`. */
export const LOAD_OPTIONS: readonly OptionSpec[] = [
  {
    name: "input",
    short: "i",
    type: "string",
    arg: "FILE",
    help: "Read from a docker-save or OCI archive (tar) or an OCI layout directory",
  },
  {
    name: "name",
    type: "string",
    arg: "NAME",
    help: "Name an image that the archive leaves unnamed",
  },
  { name: "quiet", short: "q", type: "bool", help: "Print nothing but errors" },
];
/** The options of `ctr save`. */
export const SAVE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "output",
    short: "o",
    type: "string",
    arg: "FILE",
    help: "Write to FILE (a docker-save tar that also holds an OCI layout)",
  },
];
/** The options of `ctr rmi`. */
export const RMI_OPTIONS: readonly OptionSpec[] = [
  {
    name: "force",
    short: "f",
    type: "bool",
    help: "Remove an image by ID even when it has several names",
  },
];
const IMAGE_FILTERS = ["dangling", "label", "reference", "before", "since"];

/** The options of `ctr images`. */
export const IMAGES_OPTIONS: readonly OptionSpec[] = [
  {
    name: "all",
    short: "a",
    type: "bool",
    help: "Show all images (ctr keeps no intermediate ones)",
  },
  { name: "digests", type: "bool", help: "Show digests" },
  filterOption(IMAGE_FILTERS),
  LIST_FORMAT,
  { name: "no-trunc", type: "bool", help: "Don't truncate output" },
  { name: "quiet", short: "q", type: "bool", help: "Only show image IDs" },
];
/** The options of `ctr image inspect`. */
export const IMAGE_INSPECT_OPTIONS: readonly OptionSpec[] = [
  INSPECT_FORMAT,
];
/** The options of `ctr tag`. */
export const TAG_OPTIONS: readonly OptionSpec[] = [];
/** The options of `ctr image prune`. */
export const IMAGE_PRUNE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "all",
    short: "a",
    type: "bool",
    help: "Accepted for docker compatibility: unused content is always removed",
  },
  { name: "force", short: "f", type: "bool", help: "Do not prompt (ctr never prompts)" },
];

/** Usage of the image commands. */
export const IMAGE_USAGE = `Usage:
  ctr images [OPTIONS] [REPO[:TAG]]     List images (--format, --filter, --digests, -q)
  ctr load -i FILE [--name NAME]        Load images from an archive or OCI layout
  ctr save -o FILE IMAGE...             Save images to a docker-save/OCI archive
  ctr tag SOURCE TARGET                 Give an image another name
  ctr rmi [-f] IMAGE...                 Remove images (names first, content when unreferenced)
  ctr image inspect [-f T] IMAGE...     Show images' config, layers and history as JSON
  ctr history IMAGE                     Show an image's history ('ctr history --help')
  ctr import FILE|- [REPO[:TAG]]        Make an image of a tar of a root filesystem
  ctr image prune                       Remove untagged images and unreferenced content
  ctr pull|push IMAGE                   Pull or push through a registry ('ctr pull --help')

Options:
${optionsHelp([...IMAGES_OPTIONS, ...LOAD_OPTIONS, ...SAVE_OPTIONS, ...RMI_OPTIONS])}`;

/** The image code beyond the index: archives, registries, the schema. */
const imageCode = () => import("../image/mod.ts");

/** Runs one image command; `cmd` is images, load, save, tag, rmi, inspect or prune. */
export async function imageCommand(
  cmd: string,
  argv: readonly string[],
  g: Globals,
): Promise<number> {
  if (argv.includes("--help")) {
    console.log(IMAGE_USAGE);
    return 0;
  }
  const store = Store.open(g.root);
  switch (cmd) {
    case "images":
      printLines(images(store, argv));
      return 0;
    case "load": {
      const { opts, positionals } = parseArgs(argv, LOAD_OPTIONS);
      const input = (opts.input as string | undefined) ?? positionals[0];
      if (!input) throw new UsageError(`"ctr load" requires -i FILE`);
      const { loadArchive } = await imageCode();
      const r = await loadArchive(store, input, { name: opts.name as string | undefined });
      for (const w of r.warnings) console.error(`warning: ${w}`);
      if (!opts.quiet) {
        for (const img of r.images) {
          if (img.names.length) { for (const n of img.names) console.log(`Loaded image: ${n}`); }
          else console.log(`Loaded image ID: ${img.id}`);
        }
      }
      for (const img of r.images) imageEvent(g.stateDir, img.id, "load", { name: img.id });
      return 0;
    }
    case "save": {
      const { opts, positionals } = parseArgs(argv, SAVE_OPTIONS);
      const out = opts.output as string | undefined;
      if (!out) {
        throw new UsageError(
          `"ctr save" requires -o FILE (ctr does not write archives to a terminal)`,
        );
      }
      if (!positionals.length) throw new UsageError(`"ctr save" requires at least one image`);
      await saveImages(g, store, positionals, out);
      return 0;
    }
    case "tag": {
      const { positionals } = parseArgs(argv, []);
      if (positionals.length !== 2) {
        throw new UsageError(`"ctr tag" requires exactly 2 arguments: SOURCE TARGET`);
      }
      await tag(g, store, positionals[0], positionals[1]);
      return 0;
    }
    case "rmi": {
      const { opts, positionals } = parseArgs(argv, RMI_OPTIONS);
      if (!positionals.length) throw new UsageError(`"ctr rmi" requires at least one image`);
      let code = 0;
      for (const ref of positionals) {
        try {
          const r = await rmi(g, store, ref, { force: opts.force === true });
          for (const u of r.untagged) console.log(`Untagged: ${u}`);
          for (const d of r.deleted) console.log(`Deleted: ${d}`);
        } catch (e) {
          console.error(`ctr: ${(e as Error).message}`);
          code = 1;
        }
      }
      return code;
    }
    case "inspect": {
      const { opts, positionals } = parseArgs(argv, IMAGE_INSPECT_OPTIONS);
      if (!positionals.length) {
        throw new UsageError(`"ctr image inspect" requires at least one image`);
      }
      const found: unknown[] = [];
      let code = 0;
      for (const r of positionals) {
        try {
          found.push(inspectImage(store, r));
        } catch (e) {
          console.error(`ctr: ${(e as Error).message}`);
          code = 1;
        }
      }
      return printInspected(found, opts.format as string | undefined) || code;
    }
    case "prune": {
      parseArgs(argv, IMAGE_PRUNE_OPTIONS);
      const r = await pruneImages(g, store);
      for (const d of r.images) console.log(`Deleted Images:\n  deleted: ${d}`);
      console.log(`Total reclaimed space: ${humanSize(r.bytes)}`);
      return 0;
    }
  }
  throw new UsageError(`unknown command: ${cmd}`);
}

/** `ctr save`: the images `refs` name, as a docker-save archive in `out`, each with its event. */
export async function saveImages(
  g: Globals,
  store: Store,
  refs: readonly string[],
  out: string,
): Promise<void> {
  await (await imageCode()).saveArchive(store, refs, out);
  for (const ref of refs) imageEvent(g.stateDir, imageId(store, ref), "save", { name: ref });
}

/** `ctr tag`: points `target` at the image `source` names, with docker's event; the full name. */
export async function tag(
  g: Globals,
  store: Store,
  source: string,
  target: string,
): Promise<string> {
  const name = await (await imageCode()).tagImage(store, source, target);
  imageEvent(g.stateDir, imageId(store, name), "tag", {
    name: familiarString(normalizeReference(name)),
  });
  return name;
}

/** `ctr rmi` of one reference: the untag and delete events, the build cache kept consistent. */
export async function rmi(
  g: Globals,
  store: Store,
  ref: string,
  opts: { force?: boolean } = {},
): Promise<RemoveResult> {
  const id = imageId(store, ref);
  const r = await (await imageCode()).removeImage(store, ref, { force: opts.force === true });
  // Its garbage collection may have taken layers the build cache named.
  if (r.gc) BuildCache.open(store).prune();
  for (const _ of r.untagged) imageEvent(g.stateDir, id, "untag", { name: id });
  if (r.deleted.length) imageEvent(g.stateDir, id, "delete", { name: id });
  return r;
}

/** What {@link pruneImages} may remove besides untagged images and unreferenced content. */
export interface ImagePruneOptions {
  /** Named images too (`docker image prune -a`). */
  readonly all?: boolean;
  /** Only images that pass it (`until`, `label`). */
  readonly filter?: PruneFilter;
  /** Images to keep whatever the rest says (those containers use). */
  readonly keep?: (image: ImageRecord) => boolean;
}

/** `ctr image prune`: untagged images and unreferenced content, with the delete events. */
export async function pruneImages(
  g: Globals,
  store: Store,
  opts: ImagePruneOptions = {},
): Promise<PruneResult> {
  const { prune, readConfig } = await imageCode();
  const { passes } = await import("../engine/prune.ts");
  const f = opts.filter;
  const select = (img: ImageRecord, named: boolean) =>
    (opts.all === true || !named) && !opts.keep?.(img) &&
    (!f || passes(f, img.created, readConfig(store, img.config).config?.Labels ?? {}));
  const chosen = opts.all || opts.filter || opts.keep;
  const r = await prune(store, chosen ? { select } : { untagged: true });
  BuildCache.open(store).prune();
  for (const d of r.images) imageEvent(g.stateDir, d, "delete", { name: d });
  return r;
}

/** The image ID (config digest) a reference names now, or the reference when it names none. */
function imageId(store: Store, ref: string): string {
  try {
    return findImage(store.readIndex(), ref)?.record.config ?? ref;
  } catch {
    return ref;
  }
}

/** One `ctr images` row: docker's fields, all strings. */
export function imageItem(
  img: ImageSummary,
  tag: string | undefined,
  o: { trunc: boolean; now?: number },
): Record<string, string> {
  const colon = tag === undefined ? -1 : tag.lastIndexOf(":");
  const created = img.created ? Date.parse(img.created) : NaN;
  return {
    Containers: "N/A",
    CreatedAt: isNaN(created) ? "" : goTimeString(new Date(created)),
    CreatedSince: isNaN(created) ? "" : `${humanDuration((o.now ?? Date.now()) - created)} ago`,
    Digest: img.digest,
    ID: o.trunc ? img.id.slice(7, 19) : img.id,
    Repository: tag === undefined ? "<none>" : tag.slice(0, colon),
    SharedSize: "N/A",
    Size: decimalSize(img.size, 3),
    Tag: tag === undefined ? "<none>" : tag.slice(colon + 1),
    UniqueSize: "N/A",
    VirtualSize: decimalSize(img.size, 4),
  };
}

/** `ctr images`: the rows of the store's images that pass the filters, formatted. */
function images(store: Store, argv: readonly string[]): string {
  const { opts, positionals } = parseArgs(argv, IMAGES_OPTIONS);
  if (positionals.length > 1) throw new UsageError(`"ctr images" accepts at most one REPOSITORY`);
  const f = Filters.parse(opts.filter as string[] | undefined, IMAGE_FILTERS);
  const rows = selectImages(store, f, positionals);
  const trunc = opts["no-trunc"] !== true;
  if (opts.quiet) {
    return [...new Set(rows.map(([img]) => trunc ? img.id.slice(7, 19) : img.id))]
      .map((id) => id + "\n").join("");
  }
  const now = Date.now();
  const items = rows.map(([img, t]) => imageItem(img, t, { trunc, now }));
  const format = opts.format as string | undefined;
  const table = (format === undefined || format === "table") && opts.digests
    ? "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    : format;
  return formatList(table, items, { kind: IMAGE_LIST });
}

/** The keys `ctr images --filter` (and the API's `filters`) know. */
export const IMAGE_FILTER_KEYS: readonly string[] = IMAGE_FILTERS;

/**
 * The images that pass `ctr images`' filters, one row per name (`undefined`
 * for an image without one) that matches the reference filters and `refs`.
 */
export function selectImages(
  store: Store,
  f: Filters,
  refs: readonly string[] = [],
): [ImageSummary, string | undefined][] {
  const list = listImages(store);
  const index = store.readIndex();
  const createdOf = (ref: string) => {
    const found = findImage(index, ref);
    if (!found) throw new UsageError(`No such image: ${ref}`);
    return found.record.created ?? "";
  };
  const dangling = f.bool("dangling");
  const needLabels = f.has("label");
  const rows: [ImageSummary, string | undefined][] = [];
  for (const img of list) {
    if (dangling !== undefined && dangling !== (img.tags.length === 0)) continue;
    const created = img.created ?? "";
    if (!f.match("before", (v) => created < createdOf(v))) continue;
    if (!f.match("since", (v) => created > createdOf(v))) continue;
    if (needLabels) {
      const labels = storedConfig(store, img.id).config?.Labels ?? {};
      if (!labelsMatch(f, labels)) continue;
    }
    const wanted = [...f.values("reference"), ...refs];
    const tags = img.tags.length ? img.tags : [undefined];
    for (const t of tags) {
      if (
        wanted.length && (t === undefined || !wanted.some((r) => referenceMatches(t, r)))
      ) continue;
      rows.push([img, t]);
    }
  }
  return rows;
}
