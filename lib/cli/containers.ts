/**
 * Commands on running containers, found through the state directory:
 * `ctr ps`, `ctr stats`, `ctr pause`, `ctr unpause`.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import type { Cgroup, CgroupStats } from "../cgroups/mod.ts";
import { type ContainerState, StateDir } from "../engine/state.ts";
import { cgroupOf, liveStatus, reconcile, removeContainer } from "../engine/lifecycle.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";

const PS: readonly OptionSpec[] = [
  { name: "all", short: "a", type: "bool", help: "Show stopped containers too" },
  { name: "quiet", short: "q", type: "bool", help: "Only show ids" },
  { name: "format", type: "string", arg: "json", help: "Print JSON" },
  { name: "no-trunc", type: "bool", help: "Do not truncate ids" },
];
const STATS: readonly OptionSpec[] = [
  { name: "no-stream", type: "bool", help: "Print one sample and exit" },
  { name: "all", short: "a", type: "bool", help: "Accepted for docker compatibility" },
];

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((v, c) => (c < r.length - 1 ? v.padEnd(widths[c]) : v)).join("   "))
    .join("\n");
}

function cgroupOrThrow(s: ContainerState): Cgroup {
  const cg = cgroupOf(s);
  if (!cg) {
    throw new Error(
      `Container ${s.name} has no cgroup${
        Deno.uid() !== 0 ? " (rootless, it gets one only below a delegated cgroup v2 subtree)" : ""
      }`,
    );
  }
  return cg;
}

/** A duration as docker prints it: "3 seconds", "About a minute", "2 hours". */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 1) return "Less than a second";
  if (s < 60) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.round(s / 60);
  if (m === 1) return "About a minute";
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  return `${Math.round(h / 24)} days`;
}

function ago(iso: string | undefined): string {
  return iso ? humanDuration(Date.now() - Date.parse(iso)) : "?";
}

/** The STATUS column of docker ps. */
export function psStatus(s: ContainerState): string {
  switch (s.status) {
    case "running":
      return `Up ${ago(s.startedAt ?? s.created)}`;
    case "paused":
      return `Up ${ago(s.startedAt ?? s.created)} (Paused)`;
    case "restarting":
      return `Restarting (${s.exitCode ?? "?"}) ${ago(s.finishedAt)} ago`;
    case "created":
      return "Created";
    default:
      return `Exited (${s.exitCode ?? "?"}) ${ago(s.finishedAt)} ago`;
  }
}

/** The PORTS column: published ports (0.0.0.0:8080->80/tcp), then exposed ones (80/tcp). */
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

/** Bytes as docker stats prints them (powers of 1024: KiB, MiB, GiB). */
export function binarySize(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, i = 0;
  while (v >= 1024 && i < units.length - 1) v /= 1024, i++;
  return `${v.toFixed(i === 0 ? 0 : 2).replace(/\.00$/, "")}${units[i]}`;
}

function decimalSize(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n, i = 0;
  while (v >= 1000 && i < units.length - 1) v /= 1000, i++;
  return `${i === 0 ? v : v.toFixed(3 - String(Math.floor(v)).length).replace(/\.?0+$/, "")}${
    units[i]
  }`;
}

/** One `ctr stats` row from two samples `dtMs` apart. */
export function statsRow(
  s: ContainerState,
  a: CgroupStats,
  b: CgroupStats,
  dtMs: number,
  memTotal: number,
): string[] {
  const cpu = a.cpu && b.cpu ? ((b.cpu.usageNs - a.cpu.usageNs) / (dtMs * 1e6)) * 100 : 0;
  const used = b.memory?.usage ?? 0;
  const limit = b.memory?.limit ?? memTotal;
  const capped = Math.min(limit, memTotal);
  return [
    s.id.slice(0, 12),
    s.name,
    `${cpu.toFixed(2)}%`,
    `${binarySize(used)} / ${binarySize(capped)}`,
    `${capped ? ((used / capped) * 100).toFixed(2) : "0.00"}%`,
    `${decimalSize(b.io?.readBytes ?? 0)} / ${decimalSize(b.io?.writeBytes ?? 0)}`,
    String(b.pids?.current ?? 0),
  ];
}

function memTotal(): number {
  const m = Deno.readTextFileSync("/proc/meminfo").match(/^MemTotal:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : 0;
}

/** Runs ps, stats, pause or unpause. */
export async function containersCommand(
  cmd: string,
  argv: readonly string[],
  g: Globals,
): Promise<number> {
  const dir = new StateDir(g.stateDir);
  switch (cmd) {
    case "ps": {
      const { opts } = parseArgs(argv, PS);
      const all = (await reconcile(dir)).map((s) => ({ ...s, status: liveStatus(s) }))
        .filter((s) => opts.all || s.status === "running" || s.status === "paused")
        .sort((a, b) => b.created.localeCompare(a.created));
      const id = (s: ContainerState) => (opts["no-trunc"] ? s.id : s.id.slice(0, 12));
      if (opts.format === "json") {
        console.log(
          JSON.stringify(
            all.map((s) => ({
              Id: s.id,
              Names: s.name,
              Image: s.image,
              Command: s.command.join(" "),
              Pid: s.pid,
              State: s.status,
              Status: psStatus(s),
              Ports: portsText(s),
              Networks: s.network ?? "",
              Labels: s.labels ?? {},
              ExitCode: s.exitCode ?? null,
              Created: s.created,
            })),
          ),
        );
      } else if (opts.quiet) {
        for (const s of all) console.log(id(s));
      } else {
        const rows = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]];
        for (const s of all) {
          const cmdline = JSON.stringify(s.command.join(" ").slice(0, 20));
          const status = psStatus(s);
          rows.push([
            id(s),
            s.image.length > 30 ? s.image.slice(0, 27) + "..." : s.image,
            cmdline,
            `${ago(s.created)} ago`,
            status,
            portsText(s),
            s.name,
          ]);
        }
        console.log(table(rows));
      }
      return 0;
    }
    case "rm": {
      const { opts, positionals } = parseArgs(argv, [
        { name: "force", short: "f", type: "bool", help: "Kill a running container first" },
      ]);
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
      for (const ref of positionals) {
        const s = running(dir, ref);
        const cg = cgroupOrThrow(s);
        if (cmd === "pause") await cg.freeze();
        else await cg.thaw();
        await dir.locked(() => dir.write({ ...s, status: cmd === "pause" ? "paused" : "running" }));
        console.log(ref);
      }
      return 0;
    }
    case "stats": {
      const { opts, positionals } = parseArgs(argv, STATS);
      const total = memTotal();
      const pick = () =>
        positionals.length
          ? positionals.map((r) => running(dir, r))
          : dir.list().filter((s) => liveStatus(s) === "running" || liveStatus(s) === "paused");
      const head = [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "BLOCK I/O",
        "PIDS",
      ];
      for (;;) {
        const list = pick();
        const cgs = list.map(cgroupOrThrow);
        const a = cgs.map((c) => c.stats());
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, 500));
        const b = cgs.map((c) => c.stats());
        const dt = performance.now() - t0;
        const out = table([head, ...list.map((s, i) => statsRow(s, a[i], b[i], dt, total))]);
        if (opts["no-stream"] || !Deno.stdout.isTerminal()) {
          console.log(out);
          if (opts["no-stream"]) return 0;
        } else {
          // Redraw in place, like docker stats.
          await Deno.stdout.write(new TextEncoder().encode(`\x1b[2J\x1b[H${out}\n`));
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  throw new UsageError(`unknown command: ${cmd}`);
}
