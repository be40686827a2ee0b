/**
 * `ctr volume create|ls|inspect|rm|prune`: named volumes, with docker's
 * output. A volume is in use while a recorded container names it.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { humanSize } from "../image/progress.ts";
import { NoSuchVolumeError, type Volume, volumesInUse, VolumeStore } from "../engine/volume.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";

const CREATE: readonly OptionSpec[] = [
  { name: "label", type: "list", arg: "K=V", help: "Set metadata on the volume" },
  { name: "name", type: "string", arg: "NAME", help: "The volume's name (or give it as NAME)" },
  { name: "driver", short: "d", type: "string", arg: "local", help: "Only local" },
];
const LIST: readonly OptionSpec[] = [
  { name: "quiet", short: "q", type: "bool", help: "Only show volume names" },
  { name: "format", type: "string", arg: "json", help: "Print one JSON object per volume" },
];
const REMOVE: readonly OptionSpec[] = [
  {
    name: "force",
    short: "f",
    type: "bool",
    help: "Ignore volumes that do not exist (one in use is never removed)",
  },
];
const PRUNE: readonly OptionSpec[] = [
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
  ctr volume create [--label K=V]... [NAME]   Create a volume (a random name when none is given)
  ctr volume ls [-q] [--format json]          List volumes
  ctr volume inspect NAME...                  Show volumes as JSON
  ctr volume rm [-f] NAME...                  Remove volumes that no container uses
  ctr volume prune -f                         Remove every volume that no container uses

Use a volume with 'ctr run -v NAME:/path' (created when missing). A volume is in use while a
container that mounts it exists, running or not; its data outlives the container.

Options:
${optionsHelp([...CREATE, ...LIST, ...REMOVE, PRUNE[1]])}`;

/** Tab-separated columns as docker aligns them: cells at least 10 wide, 3 spaces apart. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(7, ...rows.map((r) => r[c].length)) + 3);
  return rows.map((r) => r.map((v, c) => (c < r.length - 1 ? v.padEnd(widths[c]) : v)).join(""))
    .join("\n");
}

function parseLabels(list: string[] | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const l of list ?? []) {
    const eq = l.indexOf("=");
    const key = eq < 0 ? l : l.slice(0, eq);
    if (!key) throw new UsageError(`invalid label ${JSON.stringify(l)}: expected KEY=VALUE`);
    labels[key] = eq < 0 ? "" : l.slice(eq + 1);
  }
  return labels;
}

/** One `ctr volume ls --format json` line: docker's keys, labels as `k=v,k=v`. */
function listJson(v: Volume): string {
  return JSON.stringify({
    Driver: v.Driver,
    Labels: Object.entries(v.Labels).map(([k, val]) => `${k}=${val}`).join(","),
    Links: "N/A",
    Mountpoint: v.Mountpoint,
    Name: v.Name,
    Scope: v.Scope,
    Size: "N/A",
  });
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
      const { opts, positionals } = parseArgs(rest, CREATE);
      if (positionals.length > 1) {
        throw new UsageError(`"ctr volume create" accepts at most one NAME`);
      }
      const flagName = opts.name as string | undefined;
      if (flagName !== undefined && positionals.length && positionals[0] !== flagName) {
        throw new UsageError(
          `conflicting volume names: --name ${flagName} and ${positionals[0]} (give one)`,
        );
      }
      if (opts.driver !== undefined && opts.driver !== "local") {
        throw new UsageError(
          `unsupported volume driver ${JSON.stringify(opts.driver)}: only local`,
        );
      }
      const v = store.create(
        flagName ?? positionals[0],
        parseLabels(opts.label as string[] | undefined),
      );
      console.log(v.Name);
      return 0;
    }
    case "ls":
    case "list": {
      const { opts, positionals } = parseArgs(rest, LIST);
      if (positionals.length) throw new UsageError(`"ctr volume ls" takes no arguments`);
      const format = opts.format as string | undefined;
      if (format !== undefined && format !== "json" && format !== "table") {
        throw new UsageError(`unsupported --format ${JSON.stringify(format)}: only json or table`);
      }
      const volumes = store.list();
      if (opts.quiet) {
        for (const v of volumes) console.log(v.Name);
      } else if (format === "json") {
        for (const v of volumes) console.log(listJson(v));
      } else {
        console.log(table([["DRIVER", "VOLUME NAME"], ...volumes.map((v) => [v.Driver, v.Name])]));
      }
      return 0;
    }
    case "inspect": {
      const { positionals } = parseArgs(rest, []);
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
      console.log(JSON.stringify(found, null, 2));
      return code;
    }
    case "rm":
    case "remove": {
      const { opts, positionals } = parseArgs(rest, REMOVE);
      if (!positionals.length) throw new UsageError(`"ctr volume rm" requires at least one NAME`);
      let code = 0;
      for (const name of positionals) {
        try {
          // Read under the store's lock, as late as possible: containers come and go meanwhile.
          store.remove(name, (n) => volumesInUse(g.stateDir).get(n)?.[0]);
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
      const { opts, positionals } = parseArgs(rest, PRUNE);
      if (positionals.length) throw new UsageError(`"ctr volume prune" takes no arguments`);
      if (!opts.force) {
        throw new UsageError(
          `"ctr volume prune" removes every volume that no container uses, with its data; ` +
            `ctr never prompts: confirm with -f or --force`,
        );
      }
      const r = store.prune(new Set(volumesInUse(g.stateDir).keys()));
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
