/**
 * docker's `run` options as a typed object: what the command line, a YAML
 * spec (`ctr up`, `run --spec`) and the detached start hand to the config
 * builder (lib/config/docker_run.ts). The flags are named and typed once
 * here; the CLI's option table (lib/cli/run.ts) must agree, which a test
 * checks.
 * @module
 */

/** How each flag takes its value. */
export const RUN_FLAG_KINDS = {
  rootfs: "string",
  rm: "bool",
  detach: "bool",
  restart: "string",
  "log-opt": "list",
  label: "list",
  spec: "string",
  pull: "string",
  entrypoint: "string",
  interactive: "bool",
  tty: "bool",
  name: "string",
  hostname: "string",
  env: "list",
  workdir: "string",
  user: "string",
  "group-add": "list",
  "cap-add": "list",
  "cap-drop": "list",
  privileged: "bool",
  "security-opt": "list",
  "read-only": "bool",
  volume: "list",
  tmpfs: "list",
  publish: "list",
  ip: "string",
  "network-alias": "list",
  net: "optional",
  pid: "string",
  ipc: "string",
  uts: "string",
  cgroupns: "string",
  userns: "optional",
  uidmap: "list",
  gidmap: "list",
  ulimit: "list",
  memory: "string",
  "memory-swap": "string",
  "memory-reservation": "string",
  cpus: "string",
  "cpu-shares": "string",
  "cpu-weight": "string",
  "cpuset-cpus": "string",
  "cpuset-mems": "string",
  "pids-limit": "string",
  "device-read-bps": "list",
  "device-write-bps": "list",
  "oom-score-adj": "string",
  "cgroup-parent": "string",
  pidfile: "string",
  "dry-run": "bool",
  help: "bool",
  // docker's, beyond the above
  "add-host": "list",
  attach: "list",
  "blkio-weight": "string",
  "blkio-weight-device": "list",
  cidfile: "string",
  "cpu-period": "string",
  "cpu-quota": "string",
  "cpu-rt-period": "string",
  "cpu-rt-runtime": "string",
  "detach-keys": "string",
  device: "list",
  "device-cgroup-rule": "list",
  "device-read-iops": "list",
  "device-write-iops": "list",
  "disable-content-trust": "bool",
  dns: "list",
  "dns-option": "list",
  "dns-search": "list",
  domainname: "string",
  "env-file": "list",
  expose: "list",
  gpus: "string",
  "health-cmd": "string",
  "health-interval": "string",
  "health-retries": "string",
  "health-start-period": "string",
  "health-timeout": "string",
  init: "bool",
  ip6: "string",
  isolation: "string",
  "kernel-memory": "string",
  "label-file": "list",
  link: "list",
  "link-local-ip": "list",
  "log-driver": "string",
  "mac-address": "string",
  "memory-swappiness": "string",
  mount: "list",
  network: "list",
  "no-healthcheck": "bool",
  "oom-kill-disable": "bool",
  platform: "string",
  "publish-all": "bool",
  runtime: "string",
  "shm-size": "string",
  "sig-proxy": "bool",
  "stop-signal": "string",
  "stop-timeout": "string",
  "storage-opt": "list",
  sysctl: "list",
  "volume-driver": "string",
  "volumes-from": "list",
} as const;

/** A flag's name. */
export type RunFlag = keyof typeof RUN_FLAG_KINDS;

interface KindValue {
  bool: boolean;
  string: string;
  list: readonly string[];
  /** `--net` alone (true) or `--net=NAME`. */
  optional: true | string;
}

/** The flags given, each with the type of its kind. */
export type RunFlags = {
  readonly [K in RunFlag]?: KindValue[(typeof RUN_FLAG_KINDS)[K]];
};

/** A `run` request before anything is read from the host. */
export interface RunOptions {
  readonly flags: RunFlags;
  /**
   * The words after the options: IMAGE [COMMAND [ARG...]], or with `rootfs`
   * COMMAND [ARG...].
   */
  readonly args: readonly string[];
}

/**
 * `over` on top of `base` (the command line over a spec's container): lists
 * add up, base's first; anything else `over` sets wins. The words stay
 * base's unless `over` has some.
 */
export function mergeRunOptions(base: RunOptions, over: RunOptions): RunOptions {
  const flags: Record<string, unknown> = { ...base.flags };
  for (const [k, v] of Object.entries(over.flags)) {
    if (v === undefined) continue;
    const kind = RUN_FLAG_KINDS[k as RunFlag];
    const had = flags[k] as readonly string[] | undefined;
    flags[k] = kind === "list" ? [...(had ?? []), ...(v as readonly string[])] : v;
  }
  return { flags: flags as RunFlags, args: over.args.length ? over.args : base.args };
}

/**
 * The options as `ctr run` arguments, for a process that starts a container
 * (a detached one's watcher): `--flag=value` for each, so that no value is
 * ever taken for a flag or the image, then `--` and the words.
 */
export function runOptionsArgv(o: RunOptions): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(o.flags)) {
    if (v === undefined) continue;
    if (v === true) out.push(`--${k}`);
    else if (v === false) out.push(`--${k}=false`);
    else if (typeof v === "string") out.push(`--${k}=${v}`);
    else for (const item of v as readonly string[]) out.push(`--${k}=${item}`);
  }
  return [...out, "--", ...o.args];
}
