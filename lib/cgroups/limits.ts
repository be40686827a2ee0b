/**
 * The resource limits of a container and their parsing from docker's flag
 * spellings (`--memory 512m`, `--cpus 1.5`, `--device-read-bps /dev/sda:1mb`,
 * ...). Everything here is pure: sizes, conversions between cgroup v1 and v2
 * units, list syntax and cross-checks. The drivers (v1.ts, v2.ts) turn a
 * {@linkcode Limits} into file writes.
 * @module
 */

export type { BlkioRate, DevicePolicy, DeviceRule, Limits } from "../config/resources.ts";
import type { BlkioRate, DevicePolicy, DeviceRule, Limits } from "../config/resources.ts";

/** The CFS period `--cpus` uses, in microseconds (docker's). */
export const CPU_PERIOD = 100_000;

/** The smallest CFS quota the kernel accepts, in microseconds. */
export const MIN_CPU_QUOTA = 1000;

/** Docker refuses memory limits below 6 MiB: the container could not even start. */
export const MIN_MEMORY = 6 * 1024 * 1024;

/** Docker's default device allow list (after `a` is denied). */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = [
  { type: "c", major: "*", minor: "*", access: "m" },
  { type: "b", major: "*", minor: "*", access: "m" },
  { type: "c", major: 1, minor: 3, access: "rwm" }, // /dev/null
  { type: "c", major: 1, minor: 5, access: "rwm" }, // /dev/zero
  { type: "c", major: 1, minor: 7, access: "rwm" }, // /dev/full
  { type: "c", major: 1, minor: 8, access: "rwm" }, // /dev/random
  { type: "c", major: 1, minor: 9, access: "rwm" }, // /dev/urandom
  { type: "c", major: 5, minor: 0, access: "rwm" }, // /dev/tty
  { type: "c", major: 5, minor: 1, access: "rwm" }, // /dev/console
  { type: "c", major: 5, minor: 2, access: "rwm" }, // /dev/ptmx
  { type: "c", major: 136, minor: "*", access: "rwm" }, // /dev/pts/*
  { type: "c", major: 10, minor: 200, access: "rwm" }, // /dev/net/tun
];

/** The default device policy: docker's list, nothing more. */
export const DEFAULT_DEVICES: DevicePolicy = { allowAll: false, extra: [] };

/** A device rule as the v1 devices.allow file takes it: `c 1:3 rwm`. */
export function formatDeviceRule(r: DeviceRule): string {
  if (r.type === "a") return "a";
  return `${r.type} ${r.major}:${r.minor} ${r.access}`;
}

const UNITS: Record<string, number> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/** The size syntax docker accepts (go-units RAMInBytes): `512m`, `1g`, `1.5GiB`, `1024k`, `100`. */
const SIZE = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i;

/**
 * Parses a size like `512m`, `1g`, `1024k`, `1.5gb` or plain bytes (binary
 * units, as docker's). `flag` names the option in the error.
 */
export function parseSize(flag: string, value: string): number {
  const m = SIZE.exec(value.trim());
  const n = m ? Math.floor(Number(m[1]) * UNITS[(m[2] ?? "").toLowerCase()]) : NaN;
  if (!m || !Number.isSafeInteger(n)) {
    throw new Error(`${flag} ${value}: expected a size like 512m or 1g`);
  }
  return n;
}

/** Formats bytes back the way a user would write them (`512m`), for messages. */
export function formatSize(bytes: number): string {
  for (const u of ["p", "t", "g", "m", "k"]) {
    if (bytes >= UNITS[u] && bytes % UNITS[u] === 0) return `${bytes / UNITS[u]}${u}`;
  }
  return String(bytes);
}

function parseInteger(flag: string, value: string, expected: string, min: number, max: number) {
  const v = value.trim();
  const n = /^[+-]?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`${flag} ${value}: expected ${expected}`);
  }
  return n;
}

/** `--cpus 1.5` → a CFS quota of 150000 µs per 100000 µs period. */
export function parseCpus(value: string): { quota: number; period: number } {
  const v = value.trim();
  const n = /^(\d+(\.\d*)?|\.\d+)$/.test(v) ? Number(v) : NaN;
  if (!(n > 0) || !Number.isFinite(n)) {
    throw new Error(`--cpus ${value}: expected a number of CPUs greater than 0, like 1.5`);
  }
  const quota = Math.round(n * CPU_PERIOD);
  if (quota < MIN_CPU_QUOTA) {
    throw new Error(`--cpus ${value}: expected at least 0.01 (the kernel's smallest quota)`);
  }
  if (!Number.isSafeInteger(quota)) throw new Error(`--cpus ${value}: too large`);
  return { quota, period: CPU_PERIOD };
}

/** `--cpu-shares`: 2..262144 (the kernel's range for cpu.shares); 0 means the default. */
export function parseCpuShares(value: string): number | undefined {
  const n = parseInteger("--cpu-shares", value, "a whole number from 2 to 262144", 0, 262144);
  if (n === 1) throw new Error(`--cpu-shares ${value}: expected a whole number from 2 to 262144`);
  return n === 0 ? undefined : n;
}

/** `--cpu-weight`: 1..10000 (cgroup v2 cpu.weight). */
export function parseCpuWeight(value: string): number {
  return parseInteger("--cpu-weight", value, "a whole number from 1 to 10000", 1, 10000);
}

/**
 * cpu.shares (v1) to cpu.weight (v2), as runc and crun convert it:
 * `1 + ((shares - 2) * 9999) / 262142` in integer arithmetic, so 2 → 1,
 * 1024 (the default) → 39 and 262144 → 10000.
 */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** cpu.weight (v2) to cpu.shares (v1), the inverse of {@linkcode sharesToWeight}: 1 → 2, 10000 → 262144. */
export function weightToShares(weight: number): number {
  if (weight === 0) return 0;
  return 2 + Math.floor(((weight - 1) * 262142) / 9999);
}

/** Checks a cpuset list like `0-2,4` and returns it without spaces. */
export function parseCpuset(flag: string, value: string): string {
  const v = value.replace(/\s+/g, "");
  const fail = (why = "") => new Error(`${flag} ${value}: expected a list like 0-2,4${why}`);
  if (v === "") throw fail();
  for (const part of v.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw fail();
    if (m[2] !== undefined && Number(m[2]) < Number(m[1])) throw fail(` (${part} goes backwards)`);
  }
  return v;
}

/** `--pids-limit`: a positive count, or -1 or 0 for no limit (null). */
export function parsePidsLimit(value: string): number | null {
  const n = parseInteger(
    "--pids-limit",
    value,
    "a whole number (-1 or 0 for no limit)",
    -1,
    Number.MAX_SAFE_INTEGER,
  );
  return n <= 0 ? null : n;
}

/** `--oom-score-adj`: -1000..1000. */
export function parseOomScoreAdj(value: string): number {
  return parseInteger("--oom-score-adj", value, "a whole number from -1000 to 1000", -1000, 1000);
}

/** The major and minor numbers of a dev_t (glibc's encoding, as `stat` reports st_rdev). */
export function devNumbers(rdev: number): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n);
  const minor = (d & 0xffn) | ((d >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/** What parsing needs to know about a device path; `Deno.statSync` fits. */
export type StatDevice = (path: string) => { isBlockDevice: boolean | null; rdev: number | null };

/** `/dev/sda:1mb` → the device's major:minor (from stat) and a rate in bytes per second. */
export function parseDeviceRate(flag: string, value: string, stat: StatDevice): BlkioRate {
  const i = value.lastIndexOf(":");
  const path = i > 0 ? value.slice(0, i) : "";
  const rateText = i > 0 ? value.slice(i + 1) : "";
  if (!path.startsWith("/dev/") || rateText === "" || !SIZE.test(rateText.trim())) {
    throw new Error(`${flag} ${value}: expected a device and a rate like /dev/sda:1mb`);
  }
  const rate = parseSize(flag, rateText);
  let st;
  try {
    st = stat(path);
  } catch (e) {
    throw new Error(`${flag} ${value}: cannot stat ${path}: ${(e as Error).message}`);
  }
  if (!st.isBlockDevice || st.rdev === null) {
    throw new Error(`${flag} ${value}: ${path} is not a block device`);
  }
  return { path, ...devNumbers(st.rdev), rate };
}

/** The limit flags, as the command line gives them (docker's names without the dashes). */
export interface LimitFlags {
  readonly memory?: string;
  readonly "memory-swap"?: string;
  readonly "memory-reservation"?: string;
  readonly cpus?: string;
  readonly "cpu-shares"?: string;
  readonly "cpu-weight"?: string;
  readonly "cpuset-cpus"?: string;
  readonly "cpuset-mems"?: string;
  readonly "pids-limit"?: string;
  readonly "device-read-bps"?: string | readonly string[];
  readonly "device-write-bps"?: string | readonly string[];
  readonly "oom-score-adj"?: string;
}

/** Options of {@linkcode limitsFromFlags}. */
export interface LimitOptions {
  /** `--privileged`: every device allowed. */
  readonly privileged?: boolean;
  /** How device paths are looked up (tests pass a fake); `Deno.statSync` by default. */
  readonly statDevice?: StatDevice;
}

const list = (v: string | readonly string[] | undefined): readonly string[] =>
  v === undefined ? [] : typeof v === "string" ? [v] : v;

/**
 * Parses and cross-checks the limit flags into {@linkcode Limits}. The result
 * always carries a device policy (docker's default list, or all devices with
 * `privileged`), so applying it to a fresh cgroup sets up device access too.
 */
export function limitsFromFlags(flags: LimitFlags, opts: LimitOptions = {}): Limits {
  const stat = opts.statDevice ?? ((p: string) => Deno.statSync(p));
  const out: { -readonly [K in keyof Limits]: Limits[K] } = {};
  const f = flags;
  if (f.memory !== undefined) {
    out.memory = parseSize("--memory", f.memory);
    if (out.memory < MIN_MEMORY) {
      throw new Error(`--memory ${f.memory}: the smallest memory limit is 6m`);
    }
  }
  if (f["memory-swap"] !== undefined) {
    const v = f["memory-swap"].trim();
    // 0 means "not set", as in docker.
    const swap = v === "-1" ? -1 : parseSize("--memory-swap", f["memory-swap"]);
    if (swap !== 0) out.memorySwap = swap;
  }
  if (out.memorySwap !== undefined && f["memory-swap"] !== undefined) {
    if (out.memory === undefined) {
      throw new Error(`--memory-swap ${f["memory-swap"]}: needs --memory too`);
    }
    if (out.memorySwap !== -1 && out.memorySwap < out.memory) {
      throw new Error(
        `--memory-swap ${
          f["memory-swap"]
        }: must be at least --memory (${f.memory}): it counts memory plus swap`,
      );
    }
  }
  if (f["memory-reservation"] !== undefined) {
    out.memoryReservation = parseSize("--memory-reservation", f["memory-reservation"]);
    if (out.memory !== undefined && out.memoryReservation > out.memory) {
      throw new Error(
        `--memory-reservation ${f["memory-reservation"]}: must not exceed --memory (${f.memory})`,
      );
    }
  }
  if (f.cpus !== undefined) {
    const { quota, period } = parseCpus(f.cpus);
    out.cpuQuota = quota;
    out.cpuPeriod = period;
  }
  if (f["cpu-shares"] !== undefined) out.cpuShares = parseCpuShares(f["cpu-shares"]);
  if (f["cpu-weight"] !== undefined) {
    if (out.cpuShares !== undefined) {
      throw new Error("--cpu-shares and --cpu-weight set the same thing: give one of them");
    }
    out.cpuWeight = parseCpuWeight(f["cpu-weight"]);
  }
  if (f["cpuset-cpus"] !== undefined) {
    out.cpusetCpus = parseCpuset("--cpuset-cpus", f["cpuset-cpus"]);
  }
  if (f["cpuset-mems"] !== undefined) {
    out.cpusetMems = parseCpuset("--cpuset-mems", f["cpuset-mems"]);
  }
  if (f["pids-limit"] !== undefined) out.pidsLimit = parsePidsLimit(f["pids-limit"]);
  const reads = list(f["device-read-bps"]).map((v) =>
    parseDeviceRate("--device-read-bps", v, stat)
  );
  const writes = list(f["device-write-bps"]).map((v) =>
    parseDeviceRate("--device-write-bps", v, stat)
  );
  if (reads.length) out.deviceReadBps = reads;
  if (writes.length) out.deviceWriteBps = writes;
  if (f["oom-score-adj"] !== undefined) out.oomScoreAdj = parseOomScoreAdj(f["oom-score-adj"]);
  out.devices = opts.privileged ? { allowAll: true } : DEFAULT_DEVICES;
  return out;
}

/**
 * The controllers a set of limits needs (v2 names: cpu, cpuset, memory, pids,
 * io). The device policy needs none on v2 and `devices` on v1.
 */
export function neededControllers(l: Limits): string[] {
  const out: string[] = [];
  if (
    l.cpuQuota !== undefined || l.cpuShares !== undefined || l.cpuWeight !== undefined
  ) out.push("cpu");
  if (l.cpusetCpus !== undefined || l.cpusetMems !== undefined) out.push("cpuset");
  if (
    l.memory !== undefined || l.memorySwap !== undefined || l.memoryReservation !== undefined
  ) out.push("memory");
  if (l.pidsLimit !== undefined) out.push("pids");
  if (l.deviceReadBps?.length || l.deviceWriteBps?.length || l.blkioWeight !== undefined) {
    out.push("io");
  }
  return out;
}
