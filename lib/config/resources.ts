/**
 * The resources of a container as the model has them: cgroup limits and
 * device rules. The cgroup drivers (lib/cgroups/) turn them into file
 * writes; the readers fill them from docker's flags and OCI configs.
 * @module
 */

/** A throttle on one block device (`--device-read-bps /dev/sda:1mb`). */
export interface BlkioRate {
  /** The device path as given. */
  readonly path: string;
  readonly major: number;
  readonly minor: number;
  /** Bytes per second. */
  readonly rate: number;
}

/** One device cgroup rule: `c 1:3 rwm`. */
export interface DeviceRule {
  /** `a` all, `b` block, `c` character. */
  readonly type: "a" | "b" | "c";
  readonly major: number | "*";
  readonly minor: number | "*";
  /** Some of `r`, `w`, `m`. */
  readonly access: string;
}

/**
 * Which devices the container may use. `allowAll` is `--privileged`;
 * otherwise docker's default list plus `extra`.
 */
export type DevicePolicy =
  | { readonly allowAll: true }
  | { readonly allowAll: false; readonly extra: readonly DeviceRule[] };

/**
 * The limits of one container. An absent field is left as the kernel has it,
 * so a partial object is also an update.
 */
export interface Limits {
  /** Hard memory limit in bytes (`--memory`). */
  readonly memory?: number;
  /**
   * Memory plus swap in bytes, -1 for unlimited swap (`--memory-swap`). When
   * absent and `memory` is set, the drivers allow as much swap as memory (docker).
   */
  readonly memorySwap?: number;
  /** Soft limit in bytes (`--memory-reservation`): v1 memory.soft_limit_in_bytes, v2 memory.low. */
  readonly memoryReservation?: number;
  /** CFS quota in microseconds per period (`--cpus`). */
  readonly cpuQuota?: number;
  /** CFS period in microseconds. */
  readonly cpuPeriod?: number;
  /** v1 cpu.shares, 2..262144 (`--cpu-shares`); converted to cpu.weight on v2. */
  readonly cpuShares?: number;
  /** v2 cpu.weight, 1..10000 (`--cpu-weight`); converted to cpu.shares on v1. */
  readonly cpuWeight?: number;
  /** CPU list like `0-2,4` (`--cpuset-cpus`). */
  readonly cpusetCpus?: string;
  /** Memory node list (`--cpuset-mems`). */
  readonly cpusetMems?: string;
  /** Most processes at once; null for no limit (`--pids-limit -1`). */
  readonly pidsLimit?: number | null;
  /** Proportional block I/O weight, 10..1000 (`--blkio-weight`; v2 io.bfq.weight or io.weight). */
  readonly blkioWeight?: number;
  /** Read throttles (`--device-read-bps`). */
  readonly deviceReadBps?: readonly BlkioRate[];
  /** Write throttles (`--device-write-bps`). */
  readonly deviceWriteBps?: readonly BlkioRate[];
  /** Device access; absent leaves the device controller alone. */
  readonly devices?: DevicePolicy;
  /**
   * -1000..1000 (`--oom-score-adj`). Not a cgroup setting: the parent writes it
   * to /proc/PID/oom_score_adj (see `setOomScoreAdj` in mod.ts).
   */
  readonly oomScoreAdj?: number;
}
