/**
 * docker's `--format` conventions on top of Go templates (lib/format/template.ts):
 *
 * - `json`: one JSON object per line (`{{json .}}` for each item);
 * - `table` alone (or no format): the command's default table;
 * - `table TEMPLATE`: a header row, then one row per item, aligned by a tabwriter with
 *   docker's settings (minwidth 10, padding 3); the header runs the same template on the
 *   column names (`{{.ID}}` gives `CONTAINER ID`) with functions that leave names alone;
 * - any other template: its output for each item, one line each;
 * - `\t` and `\n` typed as two characters become a tab and a newline, and spaces around
 *   the template are dropped, as docker does before parsing.
 *
 * As in docker, the format is parsed once and each item is executed in turn; an error
 * names the template position (`template: :1:2: executing "" at <.Foo>: ...`).
 * @module
 */

import { DOCKER_TABWRITER, TabWriter, type TabWriterOptions } from "./tabwriter.ts";
import {
  HEADER_FUNCTIONS,
  parseTemplate,
  type Template,
  TemplateError,
  type TemplateOptions,
} from "./template.ts";

export {
  DOCKER_FUNCTIONS,
  HEADER_FUNCTIONS,
  parseTemplate,
  renderTemplate,
  sprint,
  sprintf,
  Template,
  TemplateError,
  toJSON,
} from "./template.ts";
export type { ParamType, TemplateFunction, TemplateOptions } from "./template.ts";
export { displayWidth, DOCKER_TABWRITER, tabulate, TabWriter } from "./tabwriter.ts";
export type { TabWriterOptions } from "./tabwriter.ts";

/** How one kind of object lists: docker's default table and its column names. */
export interface ListKind {
  /** The default table's template, without the `table ` prefix. */
  readonly table: string;
  /** Column names by field, as docker prints them; other fields get a name from theirs. */
  readonly headers: Readonly<Record<string, string>>;
}

const COMMON = {
  CreatedAt: "CREATED AT",
  CreatedSince: "CREATED",
  Labels: "LABELS",
  Size: "SIZE",
  State: "STATE",
  Status: "STATUS",
} as const;

/** `ps`: docker's defaultContainerTableFormat and container headers. */
export const CONTAINER_LIST: ListKind = {
  table: "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
  headers: {
    ...COMMON,
    ID: "CONTAINER ID",
    Names: "NAMES",
    Image: "IMAGE",
    Command: "COMMAND",
    RunningFor: "CREATED",
    Ports: "PORTS",
    Mounts: "MOUNTS",
    LocalVolumes: "LOCAL VOLUMES",
    Networks: "NETWORKS",
    Platform: "PLATFORM",
    HealthStatus: "HEALTH STATUS",
    IPAddresses: "IP ADDRESSES",
  },
};

/** `images`: docker's defaultImageTableFormat and image headers. */
export const IMAGE_LIST: ListKind = {
  table:
    "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}",
  headers: {
    ...COMMON,
    ID: "IMAGE ID",
    Repository: "REPOSITORY",
    Tag: "TAG",
    Digest: "DIGEST",
    Containers: "CONTAINERS",
    VirtualSize: "SIZE",
    SharedSize: "SHARED SIZE",
    UniqueSize: "UNIQUE SIZE",
  },
};

/** `volume ls`. */
export const VOLUME_LIST: ListKind = {
  table: "{{.Driver}}\t{{.Name}}",
  headers: {
    ...COMMON,
    ID: "ID",
    Name: "VOLUME NAME",
    Driver: "DRIVER",
    Scope: "SCOPE",
    Mountpoint: "MOUNTPOINT",
    Links: "LINKS",
  },
};

/** `network ls`. */
export const NETWORK_LIST: ListKind = {
  table: "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
  headers: {
    ...COMMON,
    ID: "NETWORK ID",
    Name: "NAME",
    Driver: "DRIVER",
    Scope: "SCOPE",
    IPv4: "IPV4",
    IPv6: "IPV6",
    Internal: "INTERNAL",
  },
};

/** `stats`. */
export const STATS_LIST: ListKind = {
  table:
    "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
  headers: {
    Container: "CONTAINER",
    ID: "CONTAINER ID",
    Name: "NAME",
    CPUPerc: "CPU %",
    MemUsage: "MEM USAGE / LIMIT",
    MemPerc: "MEM %",
    NetIO: "NET I/O",
    BlockIO: "BLOCK I/O",
    PIDs: "PIDS",
  },
};

/** `history`. */
export const HISTORY_LIST: ListKind = {
  table: "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
  headers: { ...COMMON, ID: "IMAGE", CreatedBy: "CREATED BY", Comment: "COMMENT" },
};

/** Replaces the `\t` and `\n` a shell leaves as two characters with a tab and a newline. */
export function expandEscapes(format: string): string {
  return format.replaceAll("\\t", "\t").replaceAll("\\n", "\n");
}

/** Whether a `--format` value asks for a table (docker: it starts with "table"). */
export function isTableFormat(format: string | undefined): boolean {
  return format === undefined || format === "" || format.startsWith("table");
}

/**
 * A column name for a field docker has no name for: its words in capitals
 * (`CreatedAt` → `CREATED AT`, `IPAddress` → `IP ADDRESS`).
 */
export function headerName(field: string, headers: Readonly<Record<string, string>> = {}): string {
  if (Object.hasOwn(headers, field)) return headers[field];
  return field.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toUpperCase();
}

/**
 * What a table's header row is executed on: every field the template reads, named as
 * docker names the column (`{.ID: "CONTAINER ID"}`); a chain `.State.Status` is named
 * after its last field.
 */
export function headerData(
  tpl: Template,
  headers: Readonly<Record<string, string>>,
): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  const chains = tpl.fields().sort((a, b) => a.length - b.length);
  for (const chain of chains) {
    let obj = data;
    let ok = true;
    for (const k of chain.slice(0, -1)) {
      if (!Object.hasOwn(obj, k)) obj[k] = {};
      if (typeof obj[k] !== "object") {
        ok = false; // `.A` is already a column; `.A.B` cannot be one too
        break;
      }
      obj = obj[k] as Record<string, unknown>;
    }
    const last = chain[chain.length - 1];
    if (ok && !Object.hasOwn(obj, last)) obj[last] = headerName(last, headers);
  }
  return data;
}

/**
 * A table's header row. Fields docker has no name for get one from their own name; if
 * that makes the template fail (a `range` over a field that is now a name), the header is
 * made as docker makes it, from its names alone, and like docker keeps what a failing
 * template printed.
 */
function tableHeader(tpl: Template, headers: Readonly<Record<string, string>>): string {
  try {
    return tpl.execute(headerData(tpl, headers), { funcs: HEADER_FUNCTIONS });
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
  }
  try {
    return tpl.execute(headers, { funcs: HEADER_FUNCTIONS });
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    return e.output;
  }
}

/** Options of {@link formatList} and {@link formatObject}. */
export interface FormatOptions {
  /** A missing field: `<no value>` ("default") or an error ("error"). */
  missingKey?: TemplateOptions["missingKey"];
  /** The table's alignment; docker's when not given. */
  tabwriter?: TabWriterOptions;
}

/**
 * Renders a list for a `--format` value as docker does: `json`, `table`, `table
 * TEMPLATE`, a template, or nothing (the default table of `kind`). Returns the whole
 * output, every line ending in a newline; throws TemplateError for a bad template.
 */
export function formatList(
  format: string | undefined,
  items: readonly unknown[],
  opts: FormatOptions & { kind: ListKind },
): string {
  const table = isTableFormat(format);
  let body = format ?? "";
  if (table) {
    body = body.slice("table".length).trim() ? body.slice("table".length) : opts.kind.table;
  } else if (body === "json") body = "{{json .}}";
  body = expandEscapes(body.replace(/^ +| +$/g, ""));
  const tpl = parseTemplate(body, { missingKey: opts.missingKey });
  const rows = items.map((it) => tpl.execute(it) + "\n").join("");
  if (!table) return rows;
  const header = tableHeader(tpl, opts.kind.headers);
  const w = new TabWriter(opts.tabwriter ?? DOCKER_TABWRITER);
  w.write(header + "\n" + rows);
  return w.flush();
}

/**
 * Renders one object with a template, as `docker inspect -f` does for each object it
 * inspects (`\t` and `\n` escapes are expanded too). No newline is added.
 */
export function formatObject(format: string, item: unknown, opts: FormatOptions = {}): string {
  return parseTemplate(expandEscapes(format), { missingKey: opts.missingKey }).execute(item);
}
export {
  binarySize,
  decimalSize,
  ellipsis,
  goQuote,
  goTimeString,
  humanDuration,
} from "./units.ts";
