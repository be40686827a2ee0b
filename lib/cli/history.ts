/**
 * `ctr history IMAGE` (and `ctr image history`): an image's history, newest
 * first, in docker's columns (IMAGE CREATED CREATED BY SIZE COMMENT). The
 * newest entry carries the image ID, older ones `<missing>` (their images
 * are not in the store, as for any pulled or BuildKit-built image); SIZE is
 * the uncompressed size of the entry's layer.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { formatList, HISTORY_LIST } from "../format/mod.ts";
import { ellipsis } from "../format/units.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";

export const HISTORY_OPTIONS: readonly OptionSpec[] = [
  {
    name: "human",
    short: "H",
    type: "bool",
    help: "Print sizes and dates in human readable format (default true; -H=false for raw values)",
  },
  { name: "no-trunc", type: "bool", help: "Don't truncate output" },
  { name: "quiet", short: "q", type: "bool", help: "Only show image IDs" },
  {
    name: "format",
    type: "string",
    arg: "FORMAT",
    help:
      "table, table TEMPLATE, json, or a Go template (fields: ID CreatedSince CreatedAt CreatedBy Size Comment)",
  },
];

const USAGE = `Usage: ctr history [OPTIONS] IMAGE

Show the history of an image.

Options:
${optionsHelp(HISTORY_OPTIONS)}`;

/** One history entry, with the fields docker's --format sees. */
export interface HistoryRow {
  readonly ID: string;
  readonly CreatedSince: string;
  readonly CreatedAt: string;
  readonly CreatedBy: string;
  readonly Size: string;
  readonly Comment: string;
}

/** What historyRows reads of an image. */
export interface HistorySource {
  /** The image ID. */
  readonly id: string;
  readonly history: readonly {
    created?: string;
    created_by?: string;
    comment?: string;
    empty_layer?: boolean;
  }[];
  /** Uncompressed layer sizes, bottom first (one per non-empty history entry). */
  readonly layerSizes: readonly number[];
}

/** The rows of `ctr history`, newest first. Pure. */
export function historyRows(
  src: HistorySource,
  opts: { human: boolean; trunc: boolean; now?: number },
  fmt: { age: (created: string | undefined, now?: number) => string; size: (n: number) => string },
): HistoryRow[] {
  let layer = 0;
  const rows = src.history.map((h) => {
    const size = h.empty_layer ? 0 : src.layerSizes[layer++] ?? 0;
    const by = (h.created_by ?? "").replaceAll("\t", " ");
    const at = h.created ? new Date(h.created).toISOString().replace(/\.\d+Z$/, "Z") : "";
    return {
      ID: "<missing>",
      CreatedSince: opts.human ? fmt.age(h.created, opts.now) : at,
      CreatedAt: at,
      CreatedBy: opts.trunc ? ellipsis(by, 45) : by,
      Size: opts.human ? fmt.size(size) : String(size),
      Comment: h.comment ?? "",
    };
  }).reverse();
  if (rows.length > 0) {
    rows[0].ID = opts.trunc ? src.id.replace(/^sha256:/, "").slice(0, 12) : src.id;
  }
  return rows;
}

/** The history of the image `ref` names, and its layers' sizes. */
export async function historySource(g: Globals, ref: string): Promise<HistorySource> {
  // The store's index and the config as stored (checked when stored): no schema, no registry.
  const { Store } = await import("../image/store.ts");
  const { findImage, NoSuchImageError, storedConfig } = await import("../image/find.ts");
  const store = Store.open(g.root);
  const index = store.readIndex();
  const found = findImage(index, ref);
  if (!found) throw new NoSuchImageError(ref);
  const config = storedConfig(store, found.record.config);
  return {
    id: found.record.config,
    history: config.history ?? [],
    layerSizes: found.record.layers.map((d) => index.layers[d]?.size ?? 0),
  };
}

/** Runs `ctr history`. */
export async function historyCommand(argv: readonly string[], g: Globals): Promise<number> {
  if (argv.includes("--help")) {
    console.log(USAGE);
    return 0;
  }
  // docker writes -H=false; a bool flag here takes no value after its short name.
  const human = !argv.some((a) => /^(-H|--human)=(false|0)$/.test(a));
  const rest = argv.filter((a) => !/^(-H|--human)=/.test(a));
  const { opts, positionals } = parseArgs(rest, HISTORY_OPTIONS);
  if (positionals.length !== 1) throw new UsageError(`"ctr history" requires exactly 1 argument`);
  const { humanAge, humanSize } = await import("../image/progress.ts");
  const rows = historyRows(
    await historySource(g, positionals[0]),
    { human, trunc: opts["no-trunc"] !== true },
    { age: humanAge, size: humanSize },
  );
  const format = opts.quiet ? "{{.ID}}" : opts.format as string | undefined;
  const out = new TextEncoder().encode(formatList(format, rows, { kind: HISTORY_LIST }));
  for (let off = 0; off < out.length;) off += await Deno.stdout.write(out.subarray(off));
  return 0;
}
