/**
 * Commands on recorded containers, found through the state directory:
 * `ctr ps` (docker's columns, `--format`, `--filter`, `-s`, `-n`), `ctr stats`,
 * `ctr rm`, `ctr pause`, `ctr unpause`.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import type { CgroupStats } from "../cgroups/mod.ts";
import { containerNetIo, memTotal } from "../engine/stats.ts";
import { type ContainerState, StateDir } from "../engine/state.ts";
import {
  cgroupOf,
  containerNetworks,
  liveStatus,
  pauseContainer,
  reconcile,
  removeContainer,
} from "../engine/lifecycle.ts";
import { healthSuffix } from "../engine/health.ts";
import { treeSize } from "../os/tree.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { Filters, labelsMatch, nameMatches } from "./filters.ts";
import { filterOption, LIST_FORMAT, printLines } from "./output.ts";
import {
  binarySize,
  CONTAINER_LIST,
  decimalSize,
  ellipsis,
  formatList,
  goQuote,
  goTimeString,
  humanDuration,
  STATS_LIST,
} from "../format/mod.ts";
import { compareStrings } from "../os/order.ts";

/** The keys `ps --filter` takes. */
export const PS_FILTERS = [
  "status",
  "name",
  "label",
  "ancestor",
  "exited",
  "id",
  "network",
  "volume",
  "before",
  "since",
  "health",
];

/** The options of `ctr ps` (docker's). */
export const PS_OPTIONS: readonly OptionSpec[] = [
  {
    name: "all",
    short: "a",
    type: "bool",
    help: "Show all containers (default shows just running)",
  },
  filterOption(PS_FILTERS),
  LIST_FORMAT,
  { name: "last", short: "n", type: "string", arg: "N", help: "Show n last created containers" },
  { name: "latest", short: "l", type: "bool", help: "Show the latest created container" },
  { name: "no-trunc", type: "bool", help: "Do not truncate output" },
  { name: "quiet", short: "q", type: "bool", help: "Only display container IDs" },
  { name: "size", short: "s", type: "bool", help: "Display total file sizes" },
];
/** The options of `ctr stats`. */
export const STATS_OPTIONS: readonly OptionSpec[] = [
  {
    name: "all",
    short: "a",
    type: "bool",
    help: "Show all containers (default shows just running)",
  },
  LIST_FORMAT,
  { name: "no-stream", type: "bool", help: "Print one sample and exit" },
  { name: "no-trunc", type: "bool", help: "Do not truncate output" },
];
/** The options of `ctr rm`. */
export const RM_OPTIONS: readonly OptionSpec[] = [
  { name: "force", short: "f", type: "bool", help: "Kill a running container first" },
  {
    name: "volumes",
    short: "v",
    type: "bool",
    help: "Accepted: named volumes outlive their containers in ctr (remove them with volume rm)",
  },
  {
    name: "link",
    short: "l",
    type: "bool",
    help: "Remove the specified link",
    refused: "ctr has no container links",
  },
];

export { humanDuration };

function ago(iso: string | undefined, now = Date.now()): string {
  return iso ? humanDuration(now - Date.parse(iso)) : "?";
}

/** The STATUS column of docker ps. */
export function psStatus(s: ContainerState, now = Date.now()): string {
  switch (s.status) {
    case "running":
      return `Up ${ago(s.startedAt ?? s.created, now)}${healthSuffix(s)}`;
    case "paused":
      return `Up ${ago(s.startedAt ?? s.created, now)} (Paused)`;
    case "restarting":
      return `Restarting (${s.exitCode ?? "?"}) ${ago(s.finishedAt, now)} ago`;
    case "created":
      return "Created";
    default:
      return `Exited (${s.exitCode ?? "?"}) ${ago(s.finishedAt, now)} ago`;
  }
}

/** The health status a healthcheck recorded, if the container has one. */
function healthOf(s: ContainerState): string | undefined {
  return s.health?.Status;
}

/** The PORTS column: 0.0.0.0:8080->80/tcp, ... */
export function portsText(s: ContainerState): string {
  const published = (s.ports ?? []).map((p) =>
    `${p.hostIp || "0.0.0.0"}:${p.hostPort}->${p.containerPort}/${p.protocol}`
  );
  const seen = new Set((s.ports ?? []).map((p) => `${p.containerPort}/${p.protocol}`));
  const exposed = (s.exposedPorts ?? []).filter((p) => !seen.has(p));
  return [...published, ...exposed].join(", ");
}

function running(dir: StateDir, ref: string): ContainerState {
  const s = dir.find(ref);
  const st = liveStatus(s);
  if (st !== "running" && st !== "paused") throw new Error(`Container ${ref} is not running`);
  return s;
}

export { binarySize };

/** The network column of a container: its ctr networks, host, or none (its own namespace). */
export function networkName(s: ContainerState): string {
  const nets = containerNetworks(s);
  if (nets.length > 0) return nets.join(",");
  return s.config?.namespaces.net.kind === "host" ? "host" : "none";
}

/** What `ps -s` measures: the container's own changes and, with its image, all it sees. */
export interface ContainerSize {
  /** Bytes in the upper layer. */
  readonly rw: number;
  /** Bytes of the image's layers plus the upper layer. */
  readonly rootFs: number;
}

/** Options of {@link psItem}. */
export interface PsItemOptions {
  /** Truncate ids, the command and mounts as docker does (false: --no-trunc). */
  readonly trunc: boolean;
  /** Sizes, when asked for (-s, or a format that reads .Size). */
  readonly size?: ContainerSize;
  readonly now?: number;
}

/**
 * One container as docker's `ps --format` sees it: every field a string, as
 * docker's container context gives them (`{{json .}}` prints these keys).
 */
export function psItem(s: ContainerState, o: PsItemOptions): Record<string, string> {
  // The daemon's form: the path, then the arguments, those with a space in single quotes.
  const cmd = [
    s.command[0] ?? "",
    ...s.command.slice(1).map((a) => (a.includes(" ") ? `'${a}'` : a)),
  ].join(" ");
  const image = /^sha256:[0-9a-f]{64}$/.test(s.image) && o.trunc ? s.image.slice(7, 19) : s.image;
  const mounts = (s.config?.mounts ?? []).filter((m) => m.type === "bind").map((m) => {
    const vol = (s.volumes ?? []).find((v) =>
      m.type === "bind" && m.source.endsWith(`/volumes/${v}/_data`)
    );
    const name = vol ?? (m.type === "bind" ? m.source : "");
    return o.trunc ? ellipsis(name, 15) : name;
  });
  const labels = s.labels ?? {};
  return {
    Command: goQuote(o.trunc ? ellipsis(cmd, 20) : cmd),
    CreatedAt: goTimeString(new Date(s.created)),
    ID: o.trunc ? s.id.slice(0, 12) : s.id,
    Image: image,
    Labels: Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(","),
    LocalVolumes: String((s.volumes ?? []).length),
    Mounts: mounts.join(","),
    Names: s.name,
    Networks: networkName(s),
    Ports: portsText(s),
    RunningFor: `${ago(s.created, o.now)} ago`,
    Size: o.size ? `${decimalSize(o.size.rw)} (virtual ${decimalSize(o.size.rootFs)})` : "0B",
    State: s.status,
    Status: psStatus(s, o.now),
  };
}

/** Store layers a container stacks (its config's layer directories), as diff_ids. */
function layerIds(s: ContainerState): string[] {
  return (s.config?.layers ?? []).map((d) => {
    const m = d.match(/\/layers\/sha256\/([0-9a-f]{64})$/);
    return m ? `sha256:${m[1]}` : d;
  });
}

/** The sizes `ps -s` shows: the upper layer, and the image's layers from the store's index. */
export async function containerSize(s: ContainerState): Promise<ContainerSize> {
  const rw = treeSize(`${s.dir}/upper`);
  let image = 0;
  try {
    const { openStore } = await import("../image/mod.ts");
    const index = openStore(s.root ?? "/var/lib/ctr").readIndex();
    for (const id of layerIds(s)) image += index.layers[id]?.size ?? 0;
  } catch { /* no store: the image's size is unknown */ }
  return { rw, rootFs: rw + image };
}

const STATUSES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

/** What the ancestor filter needs: an image's layers (bottom first) by reference, if known. */
export type AncestorLayers = (ref: string) => readonly string[] | undefined;

/**
 * The containers `ps` lists, newest first: filters applied (docker's
 * semantics: a status filter or -n lists stopped ones too), `-a` or only
 * running and paused ones.
 */
export function selectContainers(
  all: readonly ContainerState[],
  filters: Filters,
  o: { all?: boolean; last?: number; ancestor?: AncestorLayers },
): ContainerState[] {
  for (const st of filters.values("status")) {
    if (!STATUSES.includes(st)) {
      throw new UsageError(
        `Invalid filter 'status=${st}': expected one of ${STATUSES.join(", ")}`,
      );
    }
  }
  const sorted = [...all].sort((a, b) => compareStrings(b.created, a.created));
  const created = (ref: string) => {
    const s = all.find((c) => c.name === ref || c.id === ref) ??
      (ref.length >= 3 ? all.find((c) => c.id.startsWith(ref)) : undefined);
    if (!s) throw new UsageError(`No such container: ${ref}`);
    return s.created;
  };
  const showAll = o.all === true || filters.has("status") || (o.last ?? -1) > 0;
  let out = sorted.filter((s) => {
    if (!showAll && s.status !== "running" && s.status !== "paused") return false;
    const layers = layerIds(s);
    return filters.match("status", (v) => v === s.status) &&
      filters.match("name", (v) => nameMatches(s.name, v)) &&
      filters.match("id", (v) => s.id.startsWith(v)) &&
      labelsMatch(filters, s.labels ?? {}) &&
      filters.match("exited", (v) => s.status === "exited" && String(s.exitCode) === v) &&
      filters.match("network", (v) => networkName(s).split(",").includes(v)) &&
      filters.match("volume", (v) =>
        (s.volumes ?? []).includes(v) ||
        (s.config?.mounts ?? []).some((m) => m.destination === v)) &&
      filters.match("before", (v) => s.created < created(v)) &&
      filters.match("since", (v) => s.created > created(v)) &&
      filters.match("health", (v) => (healthOf(s) ?? "none") === v) &&
      filters.match("ancestor", (v) => {
        if (s.image === v) return true;
        const img = o.ancestor?.(v);
        return img !== undefined && img.length > 0 && img.length <= layers.length &&
          img.every((d, i) => layers[layers.length - 1 - i] === d);
      });
  });
  if ((o.last ?? -1) > 0) out = out.slice(0, o.last);
  return out;
}

/** The image layers (bottom first) a reference names in the store, for the ancestor filter. */
export async function ancestorResolver(root: string): Promise<AncestorLayers> {
  const { findImage, openStore } = await import("../image/mod.ts");
  const index = openStore(root).readIndex();
  return (ref) => {
    try {
      return findImage(index, ref)?.record.layers;
    } catch {
      return undefined;
    }
  };
}

/** Whether a --format reads sizes (docker computes them only then, or with -s). */
function formatWantsSize(format: string | undefined): boolean {
  return format !== undefined && (format.includes(".Size") || /^\s*json\s*$/.test(format) ||
    format.includes("json ."));
}

async function ps(dir: StateDir, g: Globals, argv: readonly string[]): Promise<number> {
  const { opts, positionals } = parseArgs(argv, PS_OPTIONS);
  if (positionals.length) throw new UsageError(`"ctr ps" accepts no arguments`);
  const filters = Filters.parse(opts.filter as string[] | undefined, PS_FILTERS);
  let last = -1;
  if (opts.last !== undefined) {
    if (!/^-?\d+$/.test(opts.last as string)) {
      throw new UsageError(`invalid argument ${JSON.stringify(opts.last)} for "-n, --last"`);
    }
    last = Number(opts.last);
  }
  if (opts.latest) last = 1;
  const now = Date.now();
  const all = (await reconcile(dir)).map((s) => ({ ...s, status: liveStatus(s) }));
  const list = selectContainers(all, filters, {
    all: opts.all === true,
    last,
    ancestor: filters.has("ancestor") ? await ancestorResolver(g.root) : undefined,
  });
  const trunc = opts["no-trunc"] !== true;
  if (opts.quiet) {
    for (const s of list) console.log(trunc ? s.id.slice(0, 12) : s.id);
    return 0;
  }
  const format = opts.format as string | undefined;
  const wantSize = opts.size === true || formatWantsSize(format);
  const items = [];
  for (const s of list) {
    items.push(psItem(s, { trunc, now, ...(wantSize && { size: await containerSize(s) }) }));
  }
  // docker adds the SIZE column to its default table with -s.
  const table = (format === undefined || format === "table") && opts.size
    ? `table ${CONTAINER_LIST.table}\t{{.Size}}`
    : format;
  printLines(formatList(table, items, { kind: CONTAINER_LIST }));
  return 0;
}

/** One `ctr stats` item (docker's fields) from two samples `dtMs` apart. */
export function statsItem(
  s: ContainerState,
  sample: {
    a: CgroupStats;
    b: CgroupStats;
    dtMs: number;
    memTotal: number;
    net?: { rx: number; tx: number };
  },
  o: { ref?: string; trunc: boolean },
): Record<string, string> {
  const { a, b, dtMs, memTotal } = sample;
  const cpu = a.cpu && b.cpu ? ((b.cpu.usageNs - a.cpu.usageNs) / (dtMs * 1e6)) * 100 : 0;
  const used = b.memory?.usage ?? 0;
  const limit = b.memory?.limit ?? memTotal;
  const capped = Math.min(limit, memTotal);
  const id = o.trunc ? s.id.slice(0, 12) : s.id;
  return {
    BlockIO: `${decimalSize(b.io?.readBytes ?? 0)} / ${decimalSize(b.io?.writeBytes ?? 0)}`,
    CPUPerc: `${cpu.toFixed(2)}%`,
    Container: o.ref ?? id,
    ID: id,
    MemPerc: `${capped ? ((used / capped) * 100).toFixed(2) : "0.00"}%`,
    MemUsage: `${binarySize(used)} / ${binarySize(capped)}`,
    Name: s.name,
    NetIO: `${decimalSize(sample.net?.rx ?? 0)} / ${decimalSize(sample.net?.tx ?? 0)}`,
    PIDs: String(b.pids?.current ?? 0),
  };
}

/** One `ctr stats` row of the default table, from two samples `dtMs` apart. */
export function statsRow(
  s: ContainerState,
  a: CgroupStats,
  b: CgroupStats,
  dtMs: number,
  memTotal: number,
): string[] {
  const it = statsItem(s, { a, b, dtMs, memTotal }, { trunc: true });
  return [it.ID, it.Name, it.CPUPerc, it.MemUsage, it.MemPerc, it.BlockIO, it.PIDs];
}

async function stats(dir: StateDir, argv: readonly string[]): Promise<number> {
  const { opts, positionals } = parseArgs(argv, STATS_OPTIONS);
  const total = memTotal();
  const trunc = opts["no-trunc"] !== true;
  const pick = () =>
    positionals.length
      ? positionals.map((r) => ({ ref: r, s: running(dir, r) }))
      : dir.list().filter((s) =>
        opts.all || liveStatus(s) === "running" || liveStatus(s) === "paused"
      ).map((s) => ({ ref: undefined, s }));
  for (;;) {
    const list = pick();
    const cgs = list.map(({ s }) => (liveStatus(s) === "exited" ? undefined : cgroupOf(s)));
    const sample = () => cgs.map((c) => c?.stats() ?? {});
    const a = sample();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 500));
    const b = sample();
    const dt = performance.now() - t0;
    const items = list.map(({ ref, s }, i) =>
      statsItem(s, { a: a[i], b: b[i], dtMs: dt, memTotal: total, net: containerNetIo(s) }, {
        ref,
        trunc,
      })
    );
    const out = formatList(opts.format as string | undefined, items, { kind: STATS_LIST });
    if (opts["no-stream"] || !Deno.stdout.isTerminal()) {
      printLines(out);
      if (opts["no-stream"]) return 0;
    } else {
      // Redraw in place, like docker stats.
      printLines(`\x1b[2J\x1b[H${out}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Freezes or thaws containers, recording docker's pause and unpause events. */
async function pause(
  dir: StateDir,
  cmd: "pause" | "unpause",
  refs: readonly string[],
): Promise<void> {
  for (const ref of refs) {
    await pauseContainer(dir, dir.find(ref), cmd === "pause");
    console.log(ref);
  }
}

/** Runs ps, stats, rm, pause or unpause. */
export async function containersCommand(
  cmd: string,
  argv: readonly string[],
  g: Globals,
): Promise<number> {
  const dir = new StateDir(g.stateDir);
  switch (cmd) {
    case "ps":
      return await ps(dir, g, argv);
    case "rm": {
      const { opts, positionals } = parseArgs(argv, RM_OPTIONS);
      if (!positionals.length) throw new UsageError(`"ctr rm" requires at least one container`);
      let code = 0;
      for (const ref of positionals) {
        try {
          await removeContainer(dir, dir.find(ref), opts.force === true);
          console.log(ref);
        } catch (e) {
          console.error(`ctr: ${(e as Error).message}`);
          code = 1;
        }
      }
      return code;
    }
    case "pause":
    case "unpause": {
      const { positionals } = parseArgs(argv, []);
      if (!positionals.length) throw new UsageError(`"ctr ${cmd}" requires at least one container`);
      await pause(dir, cmd, positionals);
      return 0;
    }
    case "stats":
      return await stats(dir, argv);
  }
  throw new UsageError(`unknown command: ${cmd}`);
}
