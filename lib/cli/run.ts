/**
 * `ctr run`'s flags: the option table (help, parsing) and the RunOptions a
 * command line gives; the host facts the config builder needs, read from
 * this machine. The config itself is built by lib/config/docker_run.ts.
 * @module
 */

import { ownCaps } from "../runtime/capabilities.ts";
import { hardNofile, lastCap } from "../runtime/host.ts";
import { randomId } from "../config/names.ts";
import { NoSuchVolumeError, VolumeStore } from "../engine/volume.ts";
import { StateDir } from "../engine/state.ts";
import { isAlive } from "../os/proc.ts";
import { rootlessIdMaps } from "../engine/rootless.ts";
import type { RunHost } from "../config/docker_run.ts";
import { RUN_FLAG_KINDS, type RunFlag, type RunOptions } from "../config/run_options.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";

/** An option of `ctr run`: its name is a flag of RunOptions. */
type RunOptionSpec = OptionSpec & { readonly name: RunFlag };

export const RUN_OPTIONS: readonly RunOptionSpec[] = [
  {
    name: "rootfs",
    type: "string",
    arg: "DIR",
    help: "Run on this root filesystem directory (never modified: an overlay keeps the changes)",
  },
  { name: "rm", type: "bool", help: "Remove the container and its changes when it exits" },
  {
    name: "detach",
    short: "d",
    type: "bool",
    help: "Run in the background and print the container's id",
  },
  {
    name: "restart",
    type: "string",
    arg: "POLICY",
    help: "Restart a detached container when it exits: no, on-failure[:N], always, unless-stopped",
  },
  {
    name: "log-opt",
    type: "list",
    arg: "K=V",
    help: "Log rotation of a detached container: max-size=10m, max-file=3 (the defaults)",
  },
  { name: "label", short: "l", type: "list", arg: "K=V", help: "Set metadata on the container" },
  {
    name: "spec",
    type: "string",
    arg: "FILE",
    help: "Run a container of a YAML spec (the only one, or the NAME given after the file)",
  },
  {
    name: "pull",
    type: "string",
    arg: "POLICY",
    help: "Pull the image: missing (default), always or never",
  },
  {
    name: "entrypoint",
    type: "string",
    arg: "CMD",
    help: 'Overwrite the image\'s entrypoint ("" clears it)',
  },
  { name: "interactive", short: "i", type: "bool", help: "Keep stdin open" },
  { name: "tty", short: "t", type: "bool", help: "Allocate a pseudo-TTY" },
  { name: "name", type: "string", arg: "NAME", help: "Assign a name to the container" },
  { name: "hostname", short: "h", type: "string", arg: "NAME", help: "Container host name" },
  {
    name: "env",
    short: "e",
    type: "list",
    arg: "K=V",
    help: "Set an environment variable (K alone: take it from ctr's environment)",
  },
  {
    name: "workdir",
    short: "w",
    type: "string",
    arg: "DIR",
    help: "Working directory inside the container (created if missing)",
  },
  {
    name: "user",
    short: "u",
    type: "string",
    arg: "USER[:GROUP]",
    help: "User name or uid, and optionally group name or gid",
  },
  { name: "group-add", type: "list", arg: "GROUP", help: "Add a supplementary group" },
  { name: "cap-add", type: "list", arg: "CAP", help: "Add a Linux capability (or ALL)" },
  { name: "cap-drop", type: "list", arg: "CAP", help: "Drop a Linux capability (or ALL)" },
  { name: "privileged", type: "bool", help: "Give every capability (namespaces and masks stay)" },
  {
    name: "security-opt",
    type: "list",
    arg: "OPT",
    help:
      "Security options: no-new-privileges[=true|false], seccomp=unconfined|PROFILE.json, apparmor=PROFILE, label=..., systempaths=unconfined",
  },
  { name: "read-only", type: "bool", help: "Mount the container's root filesystem read-only" },
  { name: "volume", short: "v", type: "list", arg: "SRC:DST[:ro]", help: "Bind mount a host path" },
  {
    name: "tmpfs",
    type: "list",
    arg: "DST[:OPTS]",
    help: "Mount a tmpfs (default rw,noexec,nosuid,nodev)",
  },
  {
    name: "publish",
    short: "p",
    type: "list",
    arg: "[IP:]HOST:CTR[/PROTO]",
    help: "Publish a container port on the host (joins the bridge network)",
  },
  {
    name: "ip",
    type: "string",
    arg: "ADDR",
    help: "A fixed IPv4 address on the container's network",
  },
  {
    name: "network-alias",
    type: "list",
    arg: "NAME",
    help: "Another name of the container on its network",
  },
  {
    name: "net",
    aliases: ["network"],
    type: "optional",
    arg: "MODE",
    help:
      "Network: none (own namespace, lo only: the default), bridge (the flag alone; rootless: " +
      "slirp4netns), host, a network name, slirp4netns or pasta (user-mode, no root needed)",
  },
  { name: "pid", type: "string", arg: "MODE", help: "PID namespace: private (default) or host" },
  { name: "ipc", type: "string", arg: "MODE", help: "IPC namespace: private (default) or host" },
  { name: "uts", type: "string", arg: "MODE", help: "UTS namespace: private (default) or host" },
  {
    name: "cgroupns",
    type: "string",
    arg: "MODE",
    help: "Cgroup namespace: private (default) or host",
  },
  {
    name: "userns",
    type: "optional",
    arg: "MODE",
    help:
      "User namespace: host (default), or remap root to an unprivileged range (flag alone, or auto)",
  },
  {
    name: "uidmap",
    type: "list",
    arg: "C:H:N",
    help: "Map container uids C.. to host uids H.. (N of them); implies --userns",
  },
  { name: "gidmap", type: "list", arg: "C:H:N", help: "Map container gids (default: as --uidmap)" },
  {
    name: "ulimit",
    type: "list",
    arg: "TYPE=SOFT[:HARD]",
    help: "Set a resource limit, e.g. nofile=1024:2048",
  },
  { name: "memory", short: "m", type: "string", arg: "SIZE", help: "Memory limit (e.g. 512m, 1g)" },
  {
    name: "memory-swap",
    type: "string",
    arg: "SIZE",
    help: "Memory plus swap limit (-1: unlimited swap)",
  },
  { name: "memory-reservation", type: "string", arg: "SIZE", help: "Memory soft limit" },
  { name: "cpus", type: "string", arg: "N", help: "CPUs (e.g. 0.5): a CFS quota per 100ms period" },
  {
    name: "cpu-shares",
    short: "c",
    type: "string",
    arg: "N",
    help: "CPU shares (relative weight, v1 cpu.shares)",
  },
  { name: "cpu-weight", type: "string", arg: "N", help: "CPU weight 1-10000 (v2 cpu.weight)" },
  {
    name: "cpuset-cpus",
    type: "string",
    arg: "LIST",
    help: "CPUs the container may use (0-3, 0,1)",
  },
  { name: "cpuset-mems", type: "string", arg: "LIST", help: "Memory nodes the container may use" },
  { name: "pids-limit", type: "string", arg: "N", help: "Most processes at once (-1: unlimited)" },
  {
    name: "device-read-bps",
    type: "list",
    arg: "DEV:RATE",
    help: "Limit the read rate from a device (/dev/sda:1mb)",
  },
  {
    name: "device-write-bps",
    type: "list",
    arg: "DEV:RATE",
    help: "Limit the write rate to a device",
  },
  {
    name: "oom-score-adj",
    type: "string",
    arg: "N",
    help: "The OOM killer's score adjustment (-1000..1000)",
  },
  {
    name: "cgroup-parent",
    type: "string",
    arg: "PATH",
    help: "Parent cgroup (default: ctr/ below ctr's own cgroup)",
  },
  {
    name: "pidfile",
    type: "string",
    arg: "FILE",
    help: "Write the container's pid (in ctr's pid namespace) to FILE",
  },
  { name: "dry-run", type: "bool", help: "Print the plan of system calls and exit" },
  { name: "help", type: "bool", help: "Print usage" },
];

/** The RunOptions of a `ctr run` command line (options stop at the image). */
export function parseRunArgs(argv: readonly string[]): RunOptions {
  const { opts, positionals } = parseArgs(argv, RUN_OPTIONS, { stopAfterPositionals: 1 });
  return { flags: opts as RunOptions["flags"], args: positionals };
}

/** Whether the option table and RunOptions agree on every flag's kind (a test asks). */
export function runOptionsAgree(): string[] {
  const problems: string[] = [];
  for (const o of RUN_OPTIONS) {
    if (RUN_FLAG_KINDS[o.name] !== o.type) {
      problems.push(`--${o.name}: ${o.type} in the table, ${RUN_FLAG_KINDS[o.name]} in RunOptions`);
    }
  }
  for (const k of Object.keys(RUN_FLAG_KINDS)) {
    if (!RUN_OPTIONS.some((o) => o.name === k)) problems.push(`--${k}: not in the table`);
  }
  return problems;
}

/** Host facts for runConfig, read from this machine. */
export function readRunHost(root: string, stateDir = "/run/ctr", rootless = false): RunHost {
  const last = lastCap();
  return {
    root,
    env: Deno.env.toObject(),
    lastCap: last,
    // Rootless, the container's capabilities are those of its own user namespace's root.
    ownCaps: rootless ? (1n << BigInt(last + 1)) - 1n : ownCaps(),
    hardNofile: hardNofile(),
    subuidBase: subuidBase(),
    ...(rootless && { rootless: rootlessIdMaps(stateDir) }),
    volume: (name) => {
      const store = new VolumeStore(root);
      const v = name === undefined ? store.create() : (() => {
        try {
          return store.get(name);
        } catch (e) {
          if (!(e instanceof NoSuchVolumeError)) throw e;
          return store.create(name);
        }
      })();
      return { name: v.Name, path: v.Mountpoint };
    },
    containerPid: (ref) => {
      const s = new StateDir(stateDir).find(ref);
      if (!isAlive(s)) throw new UsageError(`container ${ref} is not running`);
      return s.pid;
    },
    newId: randomId,
  };
}

/** The first subordinate id of "ctr" or "root" in /etc/subuid, else 100000. */
function subuidBase(): number {
  try {
    for (const l of Deno.readTextFileSync("/etc/subuid").split("\n")) {
      const [who, start, count] = l.split(":");
      if ((who === "ctr" || who === "root") && Number(count) >= 65536) return Number(start);
    }
  } catch { /* no subuid file */ }
  return 100000;
}
