/**
 * `ctr ns PID [PID...]` lists namespaces and which processes share them;
 * `ctr ns pin PID --ns TYPE PATH` keeps one alive with a bind mount;
 * `ctr ns unpin PATH` releases it.
 * @module
 */

import { nsType, pinNamespace, processNamespaces, unpinNamespace } from "../runtime/namespaces.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";

/** The options of `ctr ns pin`. */
export const PIN_OPTIONS: readonly OptionSpec[] = [
  {
    name: "ns",
    type: "string",
    arg: "TYPE",
    help: "The namespace to pin (user, mnt, pid, uts, ipc, net, cgroup)",
  },
];

function pidOf(s: string | undefined): number {
  if (s === undefined) throw new UsageError("a PID is required");
  if (!/^\d+$/.test(s)) throw new UsageError(`invalid pid ${JSON.stringify(s)}`);
  return Number(s);
}

/** The `ctr ns` table for some pids. */
export function nsTable(pids: readonly number[]): string {
  const info = pids.map((p) => processNamespaces(p));
  const head = ["NAMESPACE", ...pids.map((p) => `PID ${p}`)];
  if (pids.length > 1) head.push("SHARED");
  const rows = info[0].map((n, i) => {
    const inodes = info.map((x) => x[i].inode);
    const row = [n.type, ...inodes.map(String)];
    if (pids.length > 1) {
      const groups = new Map<number, number[]>();
      inodes.forEach((ino, j) => groups.set(ino, [...(groups.get(ino) ?? []), pids[j]]));
      row.push(
        groups.size === 1
          ? "all"
          : [...groups.values()].filter((g) => g.length > 1).map((g) => g.join(",")).join(" ") ||
            "none",
      );
    }
    return row;
  });
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  return [head, ...rows].map((r) => r.map((x, c) => x.padEnd(widths[c])).join("  ").trimEnd()).join(
    "\n",
  );
}

/** Runs `ctr ns ...`. */
export function nsCommand(argv: readonly string[]): number {
  if (argv[0] === "pin") {
    const { opts, positionals } = parseArgs(argv.slice(1), PIN_OPTIONS);
    const [pid, path] = positionals;
    if (!opts.ns) throw new UsageError("ctr ns pin needs --ns TYPE");
    if (!path) throw new UsageError("ctr ns pin needs a target PATH");
    pinNamespace(pidOf(pid), nsType(opts.ns as string), path);
    console.log(path);
    return 0;
  }
  if (argv[0] === "unpin") {
    const path = argv[1];
    if (!path) throw new UsageError("ctr ns unpin needs a PATH");
    unpinNamespace(path);
    try {
      Deno.removeSync(path);
    } catch { /* a pre-existing file that someone else owns */ }
    return 0;
  }
  const { positionals } = parseArgs(argv, []);
  if (positionals.length === 0) throw new UsageError('"ctr ns" requires at least one PID');
  console.log(nsTable(positionals.map(pidOf)));
  return 0;
}
