/**
 * docker's health checks as settings: the `--health-*` flags and the
 * image's HEALTHCHECK (Config.Healthcheck, durations in nanoseconds), merged
 * the way docker's daemon merges them, checked, and resolved into the
 * HealthcheckSpec a container records. Pure.
 * @module
 */

import type { HealthcheckSpec, HealthConfig } from "./container.ts";
import { parseGoDuration } from "../image/build/_words.ts";

export type { HealthConfig };

/** docker's defaults: a check every 30 s, 30 s each, three failures in a row. */
export const HEALTH_DEFAULTS = {
  intervalMs: 30_000,
  timeoutMs: 30_000,
  startPeriodMs: 0,
  retries: 3,
} as const;

/**
 * Go's time.ParseDuration, as docker's `--health-*` flags read them:
 * `30s`, `1m30s`, `1.5h`, `500ms`, `-1s`, `0`. Returns nanoseconds; throws
 * Go's words ("time: invalid duration", "time: missing unit in duration").
 * The same parser reads HEALTHCHECK's flags in a Dockerfile.
 */
export function parseDuration(text: string): number {
  return parseGoDuration(text);
}

/** The `--health-*` flags as the command line gives them. */
export interface HealthFlags {
  readonly cmd?: string;
  readonly interval?: string;
  readonly timeout?: string;
  readonly startPeriod?: string;
  readonly retries?: string;
  /** `--no-healthcheck`. */
  readonly none?: boolean;
}

function durationFlag(flag: string, value: string | undefined): number {
  if (value === undefined) return 0;
  let ns: number;
  try {
    ns = parseDuration(value);
  } catch (e) {
    throw new Error(
      `invalid argument ${JSON.stringify(value)} for "--${flag}" flag: ${(e as Error).message}`,
    );
  }
  if (ns < 0) throw new Error(`--${flag} cannot be negative`);
  return ns;
}

/**
 * The container's part of a health check from its flags (docker's CLI):
 * undefined when none is given, `["NONE"]` for --no-healthcheck, and an
 * empty Test when only durations are given (the image's command stays).
 */
export function healthFromFlags(f: HealthFlags): HealthConfig | undefined {
  let retries = 0;
  if (f.retries !== undefined) {
    if (!/^[+-]?\d+$/.test(f.retries.trim())) {
      throw new Error(
        `invalid argument ${
          JSON.stringify(f.retries)
        } for "--health-retries" flag: expected a whole number`,
      );
    }
    retries = Number(f.retries);
  }
  const c: HealthConfig = {
    Test: f.cmd ? ["CMD-SHELL", f.cmd] : [],
    Interval: durationFlag("health-interval", f.interval),
    Timeout: durationFlag("health-timeout", f.timeout),
    StartPeriod: durationFlag("health-start-period", f.startPeriod),
    Retries: retries,
  };
  const any = !!f.cmd || c.Interval !== 0 || c.Timeout !== 0 || c.StartPeriod !== 0 ||
    retries !== 0;
  if (f.none) {
    if (any) throw new Error("--no-healthcheck conflicts with --health-* options");
    return { Test: ["NONE"] };
  }
  if (!any) return undefined;
  if (retries < 0) throw new Error("--health-retries cannot be negative");
  return c;
}

/**
 * The container's check over the image's, field by field, as docker's
 * daemon merges them: an empty Test or a zero duration takes the image's.
 */
export function mergeHealth(
  image: HealthConfig | undefined,
  user: HealthConfig | undefined,
): HealthConfig | undefined {
  if (!user) return image;
  if (!image) return user;
  return {
    Test: user.Test?.length ? user.Test : image.Test,
    Interval: user.Interval || image.Interval,
    Timeout: user.Timeout || image.Timeout,
    StartPeriod: user.StartPeriod || image.StartPeriod,
    Retries: user.Retries || image.Retries,
  };
}

/** The smallest duration docker's daemon accepts for a check's settings (1 ms). */
const MIN_DURATION_NS = 1e6;

/**
 * The check a container runs, with docker's defaults for what is unset;
 * undefined when there is none (no Test, or `["NONE"]`). Throws the
 * daemon's words for what it refuses.
 */
export function resolveHealth(c: HealthConfig | undefined): HealthcheckSpec | undefined {
  const test = c?.Test ?? [];
  if (!c || test.length === 0 || test[0] === "NONE") return undefined;
  if (test[0] !== "CMD" && test[0] !== "CMD-SHELL") {
    throw new Error(
      `Unknown healthcheck type ${JSON.stringify(test[0])} (expected CMD or CMD-SHELL)`,
    );
  }
  if (test.length < 2 || (test[0] === "CMD-SHELL" && test.length !== 2)) {
    throw new Error(`Invalid healthcheck ${JSON.stringify(test)}: ${test[0]} needs a command`);
  }
  for (const [what, v] of [["Interval", c.Interval], ["Timeout", c.Timeout]] as const) {
    if (v && v < MIN_DURATION_NS) {
      throw new Error(`${what} in Healthcheck cannot be less than 1ms`);
    }
  }
  if (c.StartPeriod && c.StartPeriod < MIN_DURATION_NS) {
    throw new Error("StartPeriod in Healthcheck cannot be less than 1ms");
  }
  if ((c.Retries ?? 0) < 0) throw new Error("Retries in Healthcheck cannot be negative");
  const ms = (ns: number | undefined, dflt: number) => (ns ? Math.round(ns / 1e6) : dflt);
  // As docker shows Config.Healthcheck: what is unset is left out.
  const config: HealthConfig = Object.fromEntries(
    Object.entries(c).filter(([, v]) => v !== undefined && v !== 0),
  );
  return {
    config,
    test: [...test],
    intervalMs: ms(c.Interval, HEALTH_DEFAULTS.intervalMs),
    timeoutMs: ms(c.Timeout, HEALTH_DEFAULTS.timeoutMs),
    startPeriodMs: ms(c.StartPeriod, HEALTH_DEFAULTS.startPeriodMs),
    retries: c.Retries || HEALTH_DEFAULTS.retries,
  };
}

/** The argv a check runs in the container: CMD's words, or CMD-SHELL's command under /bin/sh -c. */
export function healthArgv(spec: HealthcheckSpec): string[] {
  return spec.test[0] === "CMD-SHELL" ? ["/bin/sh", "-c", spec.test[1]] : spec.test.slice(1);
}
