/**
 * From an image config to what a container's process needs, with docker's
 * rules for what the command line changes: a command replaces the image's
 * Cmd; `--entrypoint X` replaces its Entrypoint and drops its Cmd;
 * `--entrypoint ""` clears the Entrypoint and keeps the Cmd; `-e` overrides
 * variables by name; `-w` and `-u` replace WorkingDir and User. Pure.
 * @module
 */

import { DEFAULT_PATH, type HealthConfig, mergeEnv } from "../config/container.ts";
import type { ImageConfig } from "./schema.ts";

/** The process settings an image carries. */
export interface ImageDefaults {
  readonly env: readonly string[];
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  /** "" when the image sets none. */
  readonly workingDir: string;
  /** "" when the image sets none (root). */
  readonly user: string;
  /** `80/tcp`, `53/udp`: noted for publishing, opened by nothing. */
  readonly exposedPorts: readonly string[];
  /** Paths the image declares as volumes. */
  readonly volumes: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly stopSignal?: string;
  /** The image's HEALTHCHECK (durations in nanoseconds). */
  readonly healthcheck?: HealthConfig;
}

/** The process settings of an image config. */
export function imageDefaults(config: ImageConfig): ImageDefaults {
  const c = config.config ?? {};
  return {
    env: c.Env ?? [],
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    workingDir: c.WorkingDir ?? "",
    user: c.User ?? "",
    exposedPorts: Object.keys(c.ExposedPorts ?? {}).sort(),
    volumes: Object.keys(c.Volumes ?? {}).sort(),
    labels: c.Labels ?? {},
    ...(c.StopSignal && { stopSignal: c.StopSignal }),
    ...(c.Healthcheck && {
      healthcheck: {
        Test: c.Healthcheck.Test ?? [],
        Interval: c.Healthcheck.Interval,
        Timeout: c.Healthcheck.Timeout,
        StartPeriod: c.Healthcheck.StartPeriod,
        Retries: c.Healthcheck.Retries,
      },
    }),
  };
}

/** What the command line says about the process. */
export interface CommandLineProcess {
  /** The words after the image name; empty or absent keeps the image's Cmd. */
  readonly command?: readonly string[];
  /** `--entrypoint`: replaces the image's Entrypoint; "" clears it. */
  readonly entrypoint?: string;
  /** `-e` values, already in `K=V` form; they override the image's by name. */
  readonly env?: readonly string[];
  /** `-w`. */
  readonly workdir?: string;
  /** `-u`. */
  readonly user?: string;
}

/** The process a container of the image runs. */
export interface ImageProcess {
  readonly args: readonly string[];
  readonly env: readonly string[];
  /** Absolute. */
  readonly cwd: string;
  /** A `-u` style spec to resolve in the image's root ("" is root). */
  readonly user: string;
  readonly exposedPorts: readonly string[];
}

/** Neither the image nor the command line gives a command. */
export class NoCommandError extends Error {
  constructor() {
    super("No command specified: the image has no Entrypoint or Cmd and none was given");
    this.name = "NoCommandError";
  }
}

/** The process of a container of `config`, given what the command line says. */
export function imageProcess(config: ImageConfig, cli: CommandLineProcess = {}): ImageProcess {
  const img = imageDefaults(config);
  const command = cli.command ?? [];
  let entrypoint: readonly string[];
  let cmd: readonly string[];
  if (cli.entrypoint !== undefined && cli.entrypoint !== "") {
    entrypoint = [cli.entrypoint];
    cmd = command;
  } else {
    entrypoint = cli.entrypoint === "" ? [] : img.entrypoint;
    cmd = command.length > 0 ? command : img.cmd;
  }
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new NoCommandError();
  let env = mergeEnv(img.env, cli.env ?? []);
  if (!env.some((e) => e.startsWith("PATH="))) env = [`PATH=${DEFAULT_PATH}`, ...env];
  const dir = cli.workdir || img.workingDir || "/";
  return {
    args,
    env,
    cwd: dir.startsWith("/") ? dir : `/${dir}`,
    user: cli.user ?? img.user,
    exposedPorts: img.exposedPorts,
  };
}
