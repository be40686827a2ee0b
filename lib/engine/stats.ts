/**
 * What `stats` reads besides a container's cgroup: its network devices'
 * counters (/proc/PID/net/dev, in its network namespace), the host's memory
 * and the host's CPU time (docker's `system_cpu_usage`), for the command
 * line's table and the Engine API's stats objects alike.
 * @module
 */

import type { ContainerState } from "./state.ts";

/** One network device's counters, as /proc/net/dev has them. */
export interface NetDevice {
  readonly rxBytes: number;
  readonly rxPackets: number;
  readonly rxErrors: number;
  readonly rxDropped: number;
  readonly txBytes: number;
  readonly txPackets: number;
  readonly txErrors: number;
  readonly txDropped: number;
}

/** The devices of a /proc/PID/net/dev text, lo left out (docker counts the others). */
export function netDevices(devText: string): Record<string, NetDevice> {
  const out: Record<string, NetDevice> = {};
  for (const line of devText.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === "lo") continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map((x) => Number(x) || 0);
    out[name] = {
      rxBytes: f[0],
      rxPackets: f[1],
      rxErrors: f[2],
      rxDropped: f[3],
      txBytes: f[8],
      txPackets: f[9],
      txErrors: f[10],
      txDropped: f[11],
    };
  }
  return out;
}

/** Bytes received and sent by a container's interfaces but lo, from its /proc/PID/net/dev. */
export function netIo(devText: string): { rx: number; tx: number } {
  return sumIo(netDevices(devText));
}

function sumIo(devices: Record<string, NetDevice>): { rx: number; tx: number } {
  let rx = 0, tx = 0;
  for (const d of Object.values(devices)) {
    rx += d.rxBytes;
    tx += d.txBytes;
  }
  return { rx, tx };
}

/** A running container's network devices (none when it is gone or has no namespace of its own). */
export function containerNetDevices(s: ContainerState): Record<string, NetDevice> {
  try {
    return netDevices(Deno.readTextFileSync(`/proc/${s.pid}/net/dev`));
  } catch {
    return {};
  }
}

/** The host's memory, in bytes (the limit of a container without one). */
export function memTotal(): number {
  const m = Deno.readTextFileSync("/proc/meminfo").match(/^MemTotal:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : 0;
}

/** The USER_HZ of /proc/stat's counters: 100 on every Linux architecture ctr runs on. */
const USER_HZ = 100;

/**
 * The host's CPU time so far, in nanoseconds: /proc/stat's `cpu` line summed
 * (docker's way). A whole number: docker's clients read it as a uint64, and
 * one with a fraction fails their decoding (ticks / 100 * 1e9 gives
 * 135848260000000.02 for 13584826 ticks; ticks * 1e7 is exact).
 */
export function systemCpuNs(statText = Deno.readTextFileSync("/proc/stat")): number {
  const line = statText.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) return 0;
  const ticks = line.trim().split(/\s+/).slice(1, 8).reduce((a, x) => a + (Number(x) || 0), 0);
  return ticks * (1e9 / USER_HZ);
}

/** How many CPUs are online (/proc/stat's per-CPU lines). */
export function onlineCpus(statText = Deno.readTextFileSync("/proc/stat")): number {
  return statText.split("\n").filter((l) => /^cpu\d+ /.test(l)).length || 1;
}

/** A running container's network bytes, lo left out. */
export function containerNetIo(s: ContainerState): { rx: number; tx: number } {
  return sumIo(containerNetDevices(s));
}
