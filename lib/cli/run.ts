/**
 * `ctr run`'s flags: the option table (help, parsing) and the RunOptions a
 * command line gives; the host facts the config builder needs, read from
 * this machine. The config itself is built by lib/config/docker_run.ts.
 * @module
 */

import { ownCaps } from "../runtime/capabilities.ts";
import { hardNofile, lastCap } from "../runtime/host.ts";
import { randomId } from "../config/names.ts";
import { NoSuchVolumeError, type Volume, VolumeStore } from "../engine/volume.ts";
import { volumeEvent } from "../engine/events.ts";
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
    aliases: ["net-alias"],
    type: "list",
    arg: "NAME",
    help: "Another name of the container on its network",
  },
  {
    name: "net",
    type: "optional",
    arg: "MODE",
    // docker's words after a bare --net are its value (`--net none`); a name needs --net=NAME.
    values: /^(none|host|bridge|default|private|(container|ns):.+)$/,
    help:
      "Network: none (own namespace, lo only: the default), bridge (the flag alone; rootless: " +
      "slirp4netns), host, a network name, slirp4netns or pasta (user-mode, no root needed)",
  },
  {
    name: "network",
    type: "list",
    arg: "NETWORK",
    help:
      "Connect a container to a network: none, bridge, host, NAME, container:NAME (docker's spelling of --net); again for more ctr networks, also as name=NAME,alias=A,ip=ADDR",
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
    values: /^(host|auto)$/,
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
  // docker's other flags, with docker's words; what one host cannot do is refused with a reason.
  {
    name: "add-host",
    type: "list",
    arg: "HOST:IP",
    help: "Add a custom host-to-IP mapping (host:ip)",
  },
  {
    name: "attach",
    short: "a",
    type: "list",
    arg: "STREAM",
    help: "Attach to STDIN, STDOUT or STDERR",
  },
  {
    name: "blkio-weight",
    type: "string",
    arg: "N",
    help: "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)",
  },
  {
    name: "blkio-weight-device",
    type: "list",
    arg: "DEV:W",
    help: "Block IO weight (relative device weight)",
  },
  { name: "cidfile", type: "string", arg: "FILE", help: "Write the container ID to the file" },
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
    help: "Limit CPU real-time period in microseconds",
  },
  {
    name: "cpu-rt-runtime",
    type: "string",
    arg: "US",
    help: "Limit CPU real-time runtime in microseconds",
  },
  {
    name: "detach-keys",
    type: "string",
    arg: "KEYS",
    help: "Override the key sequence for detaching a container (default ctrl-p,ctrl-q)",
  },
  {
    name: "device",
    type: "list",
    arg: "HOST[:CTR][:rwm]",
    help: "Add a host device to the container",
  },
  {
    name: "device-cgroup-rule",
    type: "list",
    arg: "RULE",
    help: "Add a rule to the cgroup allowed devices list ('c 1:3 rwm')",
  },
  {
    name: "device-read-iops",
    type: "list",
    arg: "DEV:N",
    help: "Limit read rate (IO per second) from a device",
  },
  {
    name: "device-write-iops",
    type: "list",
    arg: "DEV:N",
    help: "Limit write rate (IO per second) to a device",
  },
  {
    name: "disable-content-trust",
    type: "bool",
    help: "Skip image verification (default true; there is no content trust here)",
  },
  { name: "dns", type: "list", arg: "IP", help: "Set custom DNS servers" },
  { name: "dns-option", aliases: ["dns-opt"], type: "list", arg: "OPT", help: "Set DNS options" },
  { name: "dns-search", type: "list", arg: "DOMAIN", help: "Set custom DNS search domains" },
  { name: "domainname", type: "string", arg: "NAME", help: "Container NIS domain name" },
  {
    name: "env-file",
    type: "list",
    arg: "FILE",
    help: "Read in a file of environment variables",
  },
  {
    name: "expose",
    type: "list",
    arg: "PORT[/PROTO]",
    help: "Expose a port or a range of ports",
  },
  {
    name: "gpus",
    type: "string",
    arg: "REQ",
    help: "GPU devices to add to the container (refused: no GPU runtime hook here)",
  },
  { name: "health-cmd", type: "string", arg: "CMD", help: "Command to run to check health" },
  {
    name: "health-interval",
    type: "string",
    arg: "DURATION",
    help: "Time between running the check (ms|s|m|h) (default 30s)",
  },
  {
    name: "health-retries",
    type: "string",
    arg: "N",
    help: "Consecutive failures needed to report unhealthy (default 3)",
  },
  {
    name: "health-start-period",
    type: "string",
    arg: "DURATION",
    help:
      "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)",
  },
  {
    name: "health-timeout",
    type: "string",
    arg: "DURATION",
    help: "Maximum time to allow one check to run (ms|s|m|h) (default 30s)",
  },
  {
    name: "init",
    type: "bool",
    help: "Run an init inside the container that forwards signals and reaps processes",
  },
  {
    name: "ip6",
    type: "string",
    arg: "ADDR",
    help: "IPv6 address (refused: ctr's networks are IPv4 only)",
  },
  {
    name: "isolation",
    type: "string",
    arg: "TECH",
    help: "Container isolation technology (Linux has only 'default')",
  },
  {
    name: "kernel-memory",
    type: "string",
    arg: "SIZE",
    help: "Kernel memory limit (refused: no kernel memory limit in this kernel)",
  },
  {
    name: "label-file",
    type: "list",
    arg: "FILE",
    help: "Read in a line delimited file of labels",
  },
  { name: "link", type: "list", arg: "NAME[:ALIAS]", help: "Add link to another container" },
  {
    name: "link-local-ip",
    type: "list",
    arg: "ADDR",
    help: "Container IPv4/IPv6 link-local addresses (refused)",
  },
  {
    name: "log-driver",
    type: "string",
    arg: "DRIVER",
    help: "Logging driver for the container: json-file (default) or none",
  },
  {
    name: "mac-address",
    type: "string",
    arg: "MAC",
    help: "Container MAC address (e.g., 92:d0:c6:0a:29:33)",
  },
  {
    name: "memory-swappiness",
    type: "string",
    arg: "N",
    help: "Tune container memory swappiness (0 to 100) (default -1)",
  },
  {
    name: "mount",
    type: "list",
    arg: "MOUNT",
    help: "Attach a filesystem mount to the container (type=bind|volume|tmpfs,src=,dst=,...)",
  },
  { name: "no-healthcheck", type: "bool", help: "Disable any container-specified HEALTHCHECK" },
  { name: "oom-kill-disable", type: "bool", help: "Disable OOM Killer" },
  {
    name: "platform",
    type: "string",
    arg: "OS/ARCH",
    help: "Set platform if server is multi-platform capable (this host's only)",
  },
  {
    name: "publish-all",
    short: "P",
    type: "bool",
    help: "Publish all exposed ports to random ports",
  },
  {
    name: "runtime",
    type: "string",
    arg: "NAME",
    help: "Runtime to use for this container (ctr is its own)",
  },
  { name: "shm-size", type: "string", arg: "SIZE", help: "Size of /dev/shm (default 64m)" },
  {
    name: "sig-proxy",
    type: "bool",
    help: "Proxy received signals to the process (default true)",
  },
  {
    name: "stop-signal",
    type: "string",
    arg: "SIGNAL",
    help: 'Signal to stop a container (default "SIGTERM")',
  },
  {
    name: "stop-timeout",
    type: "string",
    arg: "SECONDS",
    help: "Timeout (in seconds) to stop a container (default 10)",
  },
  {
    name: "storage-opt",
    type: "list",
    arg: "OPT",
    help: "Storage driver options for the container (refused: overlay here takes none)",
  },
  { name: "sysctl", type: "list", arg: "K=V", help: "Sysctl options (namespaced ones only)" },
  {
    name: "volume-driver",
    type: "string",
    arg: "NAME",
    help: "Optional volume driver for the container (local only)",
  },
  {
    name: "volumes-from",
    type: "list",
    arg: "CTR[:ro|rw]",
    help: "Mount volumes from the specified container(s)",
  },
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
      // Made on the fly (anonymous, or named and missing): docker records its creation.
      const made = (v: Volume) => (volumeEvent(stateDir, v.Name, "create"), v);
      const v = name === undefined ? made(store.create()) : (() => {
        try {
          return store.get(name);
        } catch (e) {
          if (!(e instanceof NoSuchVolumeError)) throw e;
          return made(store.create(name));
        }
      })();
      return { name: v.Name, path: v.Mountpoint };
    },
    containerPid: (ref) => {
      const s = new StateDir(stateDir).find(ref);
      if (!isAlive(s)) throw new UsageError(`container ${ref} is not running`);
      return s.pid;
    },
    container: (ref) => {
      const s = new StateDir(stateDir).find(ref);
      const running = isAlive(s);
      return {
        id: s.id,
        name: s.name,
        hostname: s.config?.hostname,
        ip: running ? s.ip : undefined,
        running,
        mounts: s.config?.mounts ?? [],
        volumes: s.volumes ?? [],
      };
    },
    cwd: Deno.cwd(),
    newId: randomId,
    hostHostname: () => Deno.hostname(),
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
