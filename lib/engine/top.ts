/**
 * A container's processes (`top`), read from its cgroup and /proc as
 * `ps -ef` shows them, for the command line and the Engine API alike.
 * @module
 */

import type { ContainerState } from "./state.ts";
import { isAlive } from "../os/proc.ts";

/** The processes in a container's cgroup, as `ps -ef` prints them: the titles, then one row each. */
export function containerProcesses(s: ContainerState): { titles: string[]; processes: string[][] } {
  const pids = new Set<number>();
  for (const [h, p] of Object.entries(s.cgroupPaths ?? {})) {
    if (!h.includes("pids") && !h.includes("memory") && h !== "unified" && h !== "") continue;
    try {
      for (const l of Deno.readTextFileSync(`${p}/cgroup.procs`).split("\n")) {
        if (l) pids.add(Number(l));
      }
    } catch { /* gone */ }
  }
  if (pids.size === 0 && isAlive(s)) pids.add(s.pid);
  const hz = 100;
  const boot = Number(
    Deno.readTextFileSync("/proc/stat").match(/^btime (\d+)/m)?.[1] ?? 0,
  );
  const users = new Map<number, string>();
  try {
    for (const l of Deno.readTextFileSync("/etc/passwd").split("\n")) {
      const [n, , uid] = l.split(":");
      if (n && uid) users.set(Number(uid), n);
    }
  } catch { /* numeric ids */ }
  const rows = [["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]];
  for (const pid of [...pids].sort((a, b) => a - b)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      const uid = Number(status.match(/^Uid:\s+(\d+)/m)?.[1] ?? 0);
      const cmd = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter(Boolean)
        .join(" ") || `[${stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))}]`;
      const cpu = (Number(f[11]) + Number(f[12])) / hz;
      const started = new Date((boot + Number(f[19]) / hz) * 1000);
      const tty = Number(f[4]) === 0 ? "?" : `pts/${Number(f[4]) & 0xff}`;
      const t = Math.floor(cpu);
      rows.push([
        users.get(uid) ?? String(uid),
        String(pid),
        f[1],
        "0",
        started.toTimeString().slice(0, 5),
        tty,
        `${String(Math.floor(t / 3600)).padStart(2, "0")}:${
          String(Math.floor(t / 60) % 60).padStart(2, "0")
        }:${String(t % 60).padStart(2, "0")}`,
        cmd,
      ]);
    } catch { /* exited meanwhile */ }
  }
  return { titles: rows[0], processes: rows.slice(1) };
}
