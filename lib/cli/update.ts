/**
 * `ctr rename` and `ctr update`: a container's name, and the resources and
 * restart policy of running or stopped containers, with docker's flags.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { StateDir } from "../engine/state.ts";
import { renameContainer, updateContainer } from "../engine/update.ts";
import {
  CPU_PERIOD,
  type Limits,
  MIN_MEMORY,
  parseCpus,
  parseCpuset,
  parseCpuShares,
  parsePidsLimit,
  parseSize,
} from "../cgroups/limits.ts";
import { parseRestartPolicy, type RestartPolicy } from "../config/rules.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";

/** The options of `ctr update` (docker's; the ones this kernel setup cannot honour are refused). */
export const UPDATE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "blkio-weight",
    type: "string",
    arg: "N",
    help: "Block IO (relative weight), between 10 and 1000, or 0 to disable",
  },
  {
    name: "cpu-period",
    type: "string",
    arg: "US",
    help: "Limit CPU CFS (Completely Fair Scheduler) period",
  },
  {
    name: "cpu-quota",
    type: "string",
    arg: "US",
    help: "Limit CPU CFS (Completely Fair Scheduler) quota",
  },
  {
    name: "cpu-rt-period",
    type: "string",
    arg: "US",
    help: "Limit the CPU real-time period in microseconds",
    refused:
      "real-time CPU groups need a kernel with CONFIG_RT_GROUP_SCHED and are not managed by ctr",
  },
  {
    name: "cpu-rt-runtime",
    type: "string",
    arg: "US",
    help: "Limit the CPU real-time runtime in microseconds",
    refused:
      "real-time CPU groups need a kernel with CONFIG_RT_GROUP_SCHED and are not managed by ctr",
  },
  {
    name: "cpu-shares",
    short: "c",
    type: "string",
    arg: "N",
    help: "CPU shares (relative weight)",
  },
  { name: "cpus", type: "string", arg: "N", help: "Number of CPUs" },
  {
    name: "cpuset-cpus",
    type: "string",
    arg: "LIST",
    help: "CPUs in which to allow execution (0-3, 0,1)",
  },
  {
    name: "cpuset-mems",
    type: "string",
    arg: "LIST",
    help: "MEMs in which to allow execution (0-3, 0,1)",
  },
  {
    name: "kernel-memory",
    type: "string",
    arg: "SIZE",
    help: "Kernel memory limit",
    refused: "kernel memory limits (cgroup v1 kmem) are deprecated by the kernel and docker",
  },
  { name: "memory", short: "m", type: "string", arg: "SIZE", help: "Memory limit" },
  { name: "memory-reservation", type: "string", arg: "SIZE", help: "Memory soft limit" },
  {
    name: "memory-swap",
    type: "string",
    arg: "SIZE",
    help: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
  },
  {
    name: "pids-limit",
    type: "string",
    arg: "N",
    help: "Tune container pids limit (set -1 for unlimited)",
  },
  {
    name: "restart",
    type: "string",
    arg: "POLICY",
    help: "Restart policy to apply when a container exits",
  },
];

function integer(flag: string, v: string, min: number, max: number, expected: string): number {
  const n = /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`invalid argument ${JSON.stringify(v)} for "--${flag}": ${expected}`);
  }
  return n;
}

/**
 * The limits and restart policy an update's flags ask for. `current` are the
 * container's recorded limits, against which memory and swap are checked.
 */
export function updateRequest(
  opts: Readonly<Record<string, unknown>>,
  current: Limits = {},
): { limits: Limits; restart?: RestartPolicy } {
  const s = (k: string) => opts[k] as string | undefined;
  const out: { -readonly [K in keyof Limits]: Limits[K] } = {};
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      throw e instanceof UsageError ? e : new UsageError((e as Error).message);
    }
  };
  if (s("memory") !== undefined) {
    out.memory = wrap(() => parseSize("--memory", s("memory")!));
    if (out.memory < MIN_MEMORY) {
      throw new UsageError(`Minimum memory limit allowed is 6MB (--memory ${s("memory")})`);
    }
  }
  if (s("memory-swap") !== undefined) {
    const v = s("memory-swap")!.trim();
    out.memorySwap = v === "-1" ? -1 : wrap(() => parseSize("--memory-swap", v));
    const memory = out.memory ?? current.memory;
    if (memory === undefined) {
      throw new UsageError("You should always set the Memory limit when using Memoryswap limit");
    }
    if (out.memorySwap !== -1 && out.memorySwap < memory) {
      throw new UsageError(
        "Minimum memoryswap limit should be larger than memory limit, see usage",
      );
    }
  } else if (
    out.memory !== undefined && current.memorySwap !== undefined &&
    current.memorySwap !== -1 && current.memorySwap < out.memory
  ) {
    throw new UsageError(
      "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
    );
  }
  if (s("memory-reservation") !== undefined) {
    out.memoryReservation = wrap(() => parseSize("--memory-reservation", s("memory-reservation")!));
    const memory = out.memory ?? current.memory;
    if (memory !== undefined && out.memoryReservation > memory) {
      throw new UsageError(
        "Minimum memory limit can not be less than memory reservation limit, see usage",
      );
    }
  }
  if (s("cpus") !== undefined) {
    if (s("cpu-period") !== undefined || s("cpu-quota") !== undefined) {
      throw new UsageError(
        "Conflicting options: --cpus and --cpu-period/--cpu-quota set the same limit",
      );
    }
    const { quota, period } = wrap(() => parseCpus(s("cpus")!));
    out.cpuQuota = quota;
    out.cpuPeriod = period;
  }
  if (s("cpu-period") !== undefined) {
    out.cpuPeriod = integer(
      "cpu-period",
      s("cpu-period")!,
      1000,
      1_000_000,
      "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
    );
    out.cpuQuota ??= current.cpuQuota ?? -1;
  }
  if (s("cpu-quota") !== undefined) {
    out.cpuQuota = integer(
      "cpu-quota",
      s("cpu-quota")!,
      -1,
      Number.MAX_SAFE_INTEGER,
      "-1 or at least 1000",
    );
    if (out.cpuQuota >= 0 && out.cpuQuota < 1000) {
      throw new UsageError("CPU cfs quota can not be less than 1ms (i.e. 1000)");
    }
    out.cpuPeriod ??= current.cpuPeriod ?? CPU_PERIOD;
  }
  if (s("cpu-shares") !== undefined) out.cpuShares = wrap(() => parseCpuShares(s("cpu-shares")!));
  if (s("cpuset-cpus") !== undefined) {
    out.cpusetCpus = wrap(() => parseCpuset("--cpuset-cpus", s("cpuset-cpus")!));
  }
  if (s("cpuset-mems") !== undefined) {
    out.cpusetMems = wrap(() => parseCpuset("--cpuset-mems", s("cpuset-mems")!));
  }
  if (s("pids-limit") !== undefined) out.pidsLimit = wrap(() => parsePidsLimit(s("pids-limit")!));
  if (s("blkio-weight") !== undefined) {
    const w = integer("blkio-weight", s("blkio-weight")!, 0, 1000, "a weight from 10 to 1000");
    if (w !== 0 && w < 10) throw new UsageError("Range of blkio weight is from 10 to 1000");
    if (w !== 0) out.blkioWeight = w;
  }
  for (const k of Object.keys(out) as (keyof Limits)[]) if (out[k] === undefined) delete out[k];
  const restart = s("restart") !== undefined
    ? wrap(() => parseRestartPolicy(s("restart")!))
    : undefined;
  return { limits: out, ...(restart && { restart }) };
}

/** `ctr update [OPTIONS] CONTAINER...`. */
export async function updateCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, UPDATE_OPTIONS);
  if (!positionals.length) throw new UsageError(`"ctr update" requires at least 1 argument`);
  if (Object.keys(opts).length === 0) {
    throw new UsageError("You must provide one or more flags when using this command.");
  }
  const dir = new StateDir(g.stateDir);
  let code = 0;
  for (const ref of positionals) {
    try {
      const s = dir.find(ref);
      await updateContainer(dir, s, updateRequest(opts, s.config?.cgroup.limits));
      console.log(ref);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      console.error(`ctr: ${(e as Error).message}`);
      code = 1;
    }
  }
  return code;
}

/** `ctr rename CONTAINER NEW_NAME`. */
export async function renameCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { positionals } = parseArgs(argv, []);
  if (positionals.length !== 2) throw new UsageError(`"ctr rename" requires exactly 2 arguments`);
  await renameContainer(new StateDir(g.stateDir), positionals[0], positionals[1]);
  return 0;
}
