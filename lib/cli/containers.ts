/**
 * Commands on running containers, found through the state directory:
 * `ctr ps`, `ctr stats`, `ctr pause`, `ctr unpause`.
 * @module
 */

import type { Globals } from "../../main.ts";
import { openCgroupDriver } from "../cgroups/mod.ts";
import type { Cgroup, CgroupStats } from "../cgroups/mod.ts";
import { type ContainerState, isAlive, StateDir } from "../state.ts";
import { removeTree } from "../paths.ts";
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

/** The status a container really has: a recorded "running" whose pid is gone is "exited". */
export function liveStatus(s: ContainerState): ContainerState["status"] {
  if (s.status === "running" || s.status === "paused") return isAlive(s) ? s.status : "exited";
  return s.status;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((v, c) => (c < r.length - 1 ? v.padEnd(widths[c]) : v)).join("   "))
    .join("\n");
}

function cgroupOf(s: ContainerState): Cgroup {
  if (!s.cgroupPaths || Object.keys(s.cgroupPaths).length === 0) {
    throw new Error(`Container ${s.name} has no cgroup`);
  }
  return openCgroupDriver().open(s.id, s.cgroupPaths);
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
      const all = dir.list().map((s) => ({ ...s, status: liveStatus(s) }))
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
              ExitCode: s.exitCode ?? null,
              Created: s.created,
            })),
          ),
        );
      } else if (opts.quiet) {
        for (const s of all) console.log(id(s));
      } else {
        const rows = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"]];
        for (const s of all) {
          const cmdline = JSON.stringify(s.command.join(" ").slice(0, 20));
          const status = s.status === "exited"
            ? `Exited (${s.exitCode ?? "?"})`
            : s.status === "paused"
            ? "Up (Paused)"
            : "Up";
          rows.push([
            id(s),
            s.image.length > 30 ? s.image.slice(0, 27) + "..." : s.image,
            cmdline,
            s.created.replace("T", " ").slice(0, 19),
            status,
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
          const s = dir.find(ref);
          if (liveStatus(s) === "running" || liveStatus(s) === "paused") {
            if (!opts.force) {
              throw new Error(
                `You cannot remove a running container ${s.id.slice(0, 12)}: stop it or use -f`,
              );
            }
            // Its own ctr process cleans up once PID 1 is gone; a paused one is thawed to die.
            if (s.cgroupPaths && Object.keys(s.cgroupPaths).length) {
              await cgroupOf(s).thaw().catch(() => {});
            }
            Deno.kill(s.pid, "SIGKILL");
            for (let i = 0; i < 100 && isAlive(s); i++) await new Promise((r) => setTimeout(r, 20));
          }
          // What a ctr process that died (SIGKILL) could not undo: its cgroup, its network.
          if (s.cgroupPaths && Object.keys(s.cgroupPaths).length) {
            const cg = cgroupOf(s);
            await cg.killAll().catch(() => {});
            await cg.destroy().catch(() => {});
            // The shared `ctr` level goes when it is left empty (rmdir fails otherwise).
            for (const p of Object.values(s.cgroupPaths)) {
              const parent = p.slice(0, p.lastIndexOf("/"));
              if (parent.endsWith("/ctr")) {
                try {
                  Deno.removeSync(parent);
                } catch { /* still used by other containers */ }
              }
            }
          }
          if (s.network) {
            const { detachContainer, NetworkStore } = await import("../network/mod.ts");
            const store = new NetworkStore({ root: s.root ?? g.root, stateDir: g.stateDir });
            await detachContainer({ store, network: s.network, containerId: s.id });
          }
          removeTree(s.dir);
          dir.remove(s.id);
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
        const cg = cgroupOf(s);
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
        const cgs = list.map(cgroupOf);
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
