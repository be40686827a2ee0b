/**
 * `ctr info` (also `ctr system info`) and `ctr system df [-v]`, with docker's
 * text, tables and `--format`.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { type DiskUsage, diskUsage, systemInfo } from "../engine/system.ts";
import {
  binarySize,
  CONTAINER_LIST,
  decimalSize,
  formatList,
  formatObject,
  IMAGE_LIST,
  type ListKind,
  VOLUME_LIST,
} from "../format/mod.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { INSPECT_FORMAT, LIST_FORMAT, printLines } from "./output.ts";
import { psItem } from "./containers.ts";
import { imageItem } from "./image.ts";

/** The options of `ctr info`. */
export const INFO_OPTIONS: readonly OptionSpec[] = [
  INSPECT_FORMAT,
];
/** The options of `ctr system df`. */
export const DF_OPTIONS: readonly OptionSpec[] = [
  LIST_FORMAT,
  { name: "verbose", short: "v", type: "bool", help: "Show detailed information on space usage" },
];

/** `system df`: docker's columns for its summary rows. */
export const DISK_USAGE_LIST: ListKind = {
  table: "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
  headers: {
    Type: "TYPE",
    TotalCount: "TOTAL",
    Active: "ACTIVE",
    Size: "SIZE",
    Reclaimable: "RECLAIMABLE",
  },
};

/** docker's `info` text (the client part and the server part) of an info object. */
export function infoText(i: Record<string, any>): string {
  const yes = (b: unknown) => (b ? "true" : "false");
  const lines = [
    "Client:",
    ` Context:    ${i.ClientInfo?.Context ?? "default"}`,
    ` Debug Mode: ${yes(i.ClientInfo?.Debug)}`,
    "",
    "Server:",
    ` Containers: ${i.Containers}`,
    `  Running: ${i.ContainersRunning}`,
    `  Paused: ${i.ContainersPaused}`,
    `  Stopped: ${i.ContainersStopped}`,
    ` Images: ${i.Images}`,
    ` Server Version: ${i.ServerVersion}`,
    ` Storage Driver: ${i.Driver}`,
    ...(i.DriverStatus as string[][]).map(([k, v]) => `  ${k}: ${v}`),
    ` Logging Driver: ${i.LoggingDriver}`,
    ` Cgroup Driver: ${i.CgroupDriver}`,
    ` Cgroup Version: ${i.CgroupVersion}`,
    " Plugins:",
    `  Volume: ${i.Plugins.Volume.join(" ")}`,
    `  Network: ${i.Plugins.Network.join(" ")}`,
    `  Log: ${i.Plugins.Log.join(" ")}`,
    ` Swarm: ${i.Swarm.LocalNodeState}`,
    ` Runtimes: ${Object.keys(i.Runtimes).sort().join(" ")}`,
    ` Default Runtime: ${i.DefaultRuntime}`,
    ` Init Binary: ${i.InitBinary}`,
    " Security Options:",
    ...(i.SecurityOptions as string[]).flatMap((o) => {
      const kv = Object.fromEntries(o.split(",").map((p) => p.split("=") as [string, string]));
      return [`  ${kv.name}`, ...(kv.profile ? [`   Profile: ${kv.profile}`] : [])];
    }),
    ` Kernel Version: ${i.KernelVersion}`,
    ` Operating System: ${i.OperatingSystem}`,
    ` OSType: ${i.OSType}`,
    ` Architecture: ${i.Architecture}`,
    ` CPUs: ${i.NCPU}`,
    ` Total Memory: ${binarySize(i.MemTotal)}`,
    ` Name: ${i.Name}`,
    ` ID: ${i.ID}`,
    ` Docker Root Dir: ${i.DockerRootDir}`,
    ` Debug Mode: ${yes(i.Debug)}`,
    ` Registry: ${i.IndexServerAddress}`,
    " Labels:",
    ` Experimental: ${yes(i.ExperimentalBuild)}`,
    " Insecure Registries:",
    ...(i.RegistryConfig.InsecureRegistryCIDRs as string[]).map((c) => `  ${c}`),
    ` Live Restore Enabled: ${yes(i.LiveRestoreEnabled)}`,
    "",
  ];
  return lines.join("\n");
}

/** Runs `ctr info`. */
export async function infoCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, INFO_OPTIONS);
  if (positionals.length) throw new UsageError(`"ctr info" accepts no arguments`);
  const info = await systemInfo(g);
  const format = opts.format as string | undefined;
  if (format === undefined) console.log(infoText(info));
  else if (format.trim() === "json") console.log(JSON.stringify(info));
  else console.log(formatObject(format, info));
  return 0;
}

/** `X (P%)` of what could be reclaimed, as docker prints it (no percentage for nothing in use). */
function reclaimable(bytes: number, total: number): string {
  return total > 0
    ? `${decimalSize(bytes, 4)} (${Math.floor((bytes * 100) / total)}%)`
    : decimalSize(bytes, 4);
}

/** The four rows of `system df`. */
export function diskUsageItems(u: DiskUsage): Record<string, string>[] {
  const running = u.containers.filter((c) =>
    c.state.status === "running" || c.state.status === "paused"
  );
  const cSize = u.containers.reduce((n, c) => n + c.size, 0);
  const cIdle = u.containers.filter((c) => !running.includes(c)).reduce((n, c) => n + c.size, 0);
  const vSize = u.volumes.reduce((n, v) => n + v.size, 0);
  const vIdle = u.volumes.filter((v) => v.links === 0).reduce((n, v) => n + v.size, 0);
  return [
    {
      Active: String(u.images.filter((i) => i.containers > 0).length),
      Reclaimable: reclaimable(u.imagesReclaimable, u.imagesSize),
      Size: decimalSize(u.imagesSize, 4),
      TotalCount: String(u.images.length),
      Type: "Images",
    },
    {
      Active: String(running.length),
      Reclaimable: reclaimable(cIdle, cSize),
      Size: decimalSize(cSize, 4),
      TotalCount: String(u.containers.length),
      Type: "Containers",
    },
    {
      Active: String(u.volumes.filter((v) => v.links > 0).length),
      Reclaimable: reclaimable(vIdle, vSize),
      Size: decimalSize(vSize, 4),
      TotalCount: String(u.volumes.length),
      Type: "Local Volumes",
    },
    {
      Active: "0",
      Reclaimable: decimalSize(u.buildCache.size, 4),
      Size: decimalSize(u.buildCache.size, 4),
      TotalCount: String(u.buildCache.count),
      Type: "Build Cache",
    },
  ];
}

/** `system df -v`: each section's table, as docker prints them. */
export function diskUsageVerbose(u: DiskUsage, now = Date.now()): string {
  const imageKind: ListKind = IMAGE_LIST;
  const images = formatList(
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
    u.images.flatMap(({ image, shared, containers }) =>
      (image.tags.length ? image.tags : [undefined]).map((t) => ({
        ...imageItem(image, t, { trunc: true, now }),
        Size: decimalSize(image.size, 4),
        SharedSize: decimalSize(shared, 4),
        UniqueSize: decimalSize(image.size - shared, 4),
        Containers: String(containers),
      }))
    ),
    { kind: imageKind },
  );
  const containers = formatList(
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
    u.containers.map((c) => ({
      ...psItem(c.state, { trunc: true, now }),
      Size: decimalSize(c.size, 4),
    })),
    { kind: CONTAINER_LIST },
  );
  const volumes = formatList(
    "table {{.Name}}\t{{.Links}}\t{{.Size}}",
    u.volumes.map((v) => ({
      Name: v.volume.Name,
      Links: String(v.links),
      Size: decimalSize(v.size, 4),
    })),
    { kind: VOLUME_LIST },
  );
  return [
    "Images space usage:\n",
    images,
    "Containers space usage:\n",
    containers,
    "Local Volumes space usage:\n",
    volumes,
    `Build cache usage: ${decimalSize(u.buildCache.size, 4)}\n`,
    "CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n",
  ].join("\n");
}

/** Runs `ctr system df`. */
export async function dfCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, DF_OPTIONS);
  if (positionals.length) throw new UsageError(`"ctr system df" accepts no arguments`);
  const u = await diskUsage(g);
  if (opts.verbose && opts.format === undefined) printLines(diskUsageVerbose(u));
  else {
    printLines(
      formatList(opts.format as string | undefined, diskUsageItems(u), { kind: DISK_USAGE_LIST }),
    );
  }
  return 0;
}
