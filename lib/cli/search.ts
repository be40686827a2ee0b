/**
 * `ctr search [OPTIONS] TERM`: repositories of a registry whose name holds
 * the term (lib/image/search.ts), in docker's columns (NAME DESCRIPTION
 * STARS OFFICIAL AUTOMATED), `--filter`, `--limit`, `--format`, `--no-trunc`.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { formatList, type ListKind } from "../format/mod.ts";
import { ellipsis } from "../format/units.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { Filters } from "./filters.ts";
import type { SearchFilters, SearchResult } from "../image/search.ts";

export const SEARCH_OPTIONS: readonly OptionSpec[] = [
  {
    name: "filter",
    short: "f",
    type: "list",
    arg: "FILTER",
    help:
      "Filter output based on conditions provided (stars=N, is-official=BOOL, is-automated=BOOL)",
  },
  {
    name: "format",
    type: "string",
    arg: "FORMAT",
    help:
      "table, table TEMPLATE, json, or a Go template (fields: Name Description StarCount IsOfficial IsAutomated)",
  },
  { name: "limit", type: "string", arg: "N", help: "Max number of search results (default 25)" },
  { name: "no-trunc", type: "bool", help: "Don't truncate output" },
  { name: "insecure", type: "bool", help: "Use plain HTTP with this registry" },
];

const USAGE = `Usage: ctr search [OPTIONS] TERM

Search a registry for images (TERM: NAME, or REGISTRY/NAME; default Docker Hub).

Options:
${optionsHelp(SEARCH_OPTIONS)}`;

/** docker's search table. */
export const SEARCH_LIST: ListKind = {
  table: "{{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}\t{{.IsAutomated}}",
  headers: {
    Name: "NAME",
    Description: "DESCRIPTION",
    StarCount: "STARS",
    IsOfficial: "OFFICIAL",
    IsAutomated: "AUTOMATED",
  },
};

/** `--filter` values as the search's filters; a bad value is docker's error. */
export function searchFilters(filters: Filters): SearchFilters {
  const stars = filters.values("stars");
  let min: number | undefined;
  if (stars.length > 0) {
    const v = stars[stars.length - 1];
    if (!/^\d+$/.test(v)) throw new UsageError(`Invalid filter 'stars=${v}'`);
    min = Number(v);
  }
  const official = filters.bool("is-official");
  const automated = filters.bool("is-automated");
  return {
    ...(min !== undefined && { stars: min }),
    ...(official !== undefined && { isOfficial: official }),
    ...(automated !== undefined && { isAutomated: automated }),
  };
}

/** A result as docker's formatter shows it: `[OK]` for a true flag, the description on one line. */
export function searchRow(r: SearchResult, trunc: boolean): Record<string, string | number> {
  const description = r.description.replace(/[\r\n]+/g, " ");
  return {
    Name: r.name,
    Description: trunc ? ellipsis(description, 45) : description,
    StarCount: r.star_count,
    IsOfficial: r.is_official ? "[OK]" : "",
    IsAutomated: r.is_automated ? "[OK]" : "",
  };
}

/** Runs `ctr search`. */
export async function searchCommand(argv: readonly string[], g: Globals): Promise<number> {
  if (argv.includes("--help")) {
    console.log(USAGE);
    return 0;
  }
  const { opts, positionals } = parseArgs(argv, SEARCH_OPTIONS);
  if (positionals.length !== 1) throw new UsageError(`"ctr search" requires exactly 1 argument`);
  const { SEARCH_FILTERS, searchImages, searchTarget } = await import("../image/search.ts");
  const filters = searchFilters(Filters.parse(opts.filter as string[], SEARCH_FILTERS));
  const limitText = opts.limit as string | undefined;
  if (limitText !== undefined && !/^-?\d+$/.test(limitText)) {
    throw new UsageError(`invalid argument "${limitText}" for "--limit" flag`);
  }
  const { domain } = searchTarget(positionals[0]);
  const { clientOptions } = await import("./registry.ts");
  const results = await searchImages(positionals[0], {
    ...clientOptions(g, domain, opts.insecure === true),
    ...(limitText !== undefined && { limit: Number(limitText) }),
    filters,
  });
  const rows = results.map((r) => searchRow(r, opts["no-trunc"] !== true));
  const out = new TextEncoder().encode(
    formatList(opts.format as string | undefined, rows, { kind: SEARCH_LIST }),
  );
  for (let off = 0; off < out.length;) off += await Deno.stdout.write(out.subarray(off));
  return 0;
}
