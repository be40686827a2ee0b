/**
 * `ctr run`: docker's flags turned into a ContainerConfig. The pure part
 * (runConfig) is unit-tested without root; runCommand does the work.
 * @module
 */

import { RLIMIT } from "../../ffi/constants.ts";
import { capSet, limitToOwn, ownCaps } from "../runtime/capabilities.ts";
import { lastCap } from "../runtime/host.ts";
import {
  type ContainerConfig,
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
  type IdMap,
  mergeEnv,
  type NsMode,
  type NsType,
  type Rlimit,
  type UserMount,
} from "../config/container.ts";
import { resolveUser } from "../runtime/user.ts";
import { NoSuchVolumeError, VolumeStore } from "../engine/volume.ts";
import { limitsFromFlags, parseSize } from "../cgroups/limits.ts";
import type { Limits } from "../cgroups/limits.ts";
import { StateDir } from "../engine/state.ts";
import { parseRestartPolicy, type RestartPolicy } from "../config/rules.ts";
import { randomName } from "../config/names.ts";
import { isAlive } from "../os/proc.ts";
import { parsePortSpecs, type PortMapping } from "../network/ports.ts";
import { imageProcess, NoCommandError } from "../image/container_defaults.ts";
import type { ImageProcess } from "../image/container_defaults.ts";
import type { ImageConfig } from "../image/schema.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";

/** The options of `ctr run`. */
export const RUN_OPTIONS: readonly OptionSpec[] = [
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
    help: "Security options: no-new-privileges[=true|false]",
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
      "Network: none (own namespace, lo only: the default), bridge (the flag alone), host, or a network name",
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

/** Host facts that runConfig needs (passed in so it stays testable). */
export interface RunHost {
  readonly root: string;
  readonly env: Readonly<Record<string, string>>;
  readonly lastCap: number;
  /** The capabilities ctr holds (a mask). */
  readonly ownCaps: bigint;
  readonly hardNofile: bigint;
  readonly subuidBase: number;
  readonly newId: () => string;
  /** A named volume (created when missing; anonymous without a name): its name and directory. */
  readonly volume?: (name?: string) => { name: string; path: string };
  /** PID 1 of a running container by name or id (for --net=container:NAME); throws when none. */
  readonly containerPid?: (ref: string) => number;
}

/** What runConfig produces. */
export interface RunRequest {
  readonly config: ContainerConfig;
  readonly remove: boolean;
  readonly detach: boolean;
  readonly restart?: RestartPolicy;
  readonly log: { readonly maxSize: number; readonly maxFiles: number };
  readonly labels: Record<string, string>;
  /** Named volumes it mounts. */
  readonly volumes: readonly string[];
  readonly dryRun: boolean;
  readonly pidfile?: string;
  readonly name?: string;
}

const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/;

function nsMode(value: string | undefined, flag: string): NsMode {
  if (value === undefined || value === "private") return { kind: "new" };
  if (value === "host") return { kind: "host" };
  throw new UsageError(
    `invalid value for --${flag}: ${JSON.stringify(value)} (expected private or host)`,
  );
}

function parseIdMap(spec: string, flag: string): IdMap {
  const m = spec.match(/^(\d+):(\d+):(\d+)$/);
  if (!m || Number(m[3]) === 0) {
    throw new UsageError(`invalid --${flag} ${JSON.stringify(spec)}: expected CONTAINER:HOST:SIZE`);
  }
  return { container: Number(m[1]), host: Number(m[2]), size: Number(m[3]) };
}

function parseUlimit(spec: string): Rlimit {
  const m = spec.match(/^([a-z]+)=(-?\d+|unlimited)(?::(-?\d+|unlimited))?$/);
  if (!m || !(m[1] in RLIMIT)) {
    throw new UsageError(
      `invalid --ulimit ${JSON.stringify(spec)}: expected TYPE=SOFT[:HARD] with TYPE one of ${
        Object.keys(RLIMIT).join(", ")
      }`,
    );
  }
  const val = (s: string) => (s === "unlimited" || s === "-1" ? 0xffffffffffffffffn : BigInt(s));
  const soft = val(m[2]), hard = m[3] ? val(m[3]) : soft;
  if (soft > hard) throw new UsageError(`invalid --ulimit ${spec}: soft limit above hard limit`);
  return { type: m[1], soft, hard };
}

function parseVolume(
  spec: string,
  host: RunHost,
  named: string[],
): UserMount {
  const parts = spec.split(":");
  if (parts.length === 1 && spec.startsWith("/")) {
    // docker's anonymous volume: a fresh named volume at that path.
    const v = volume(host, undefined, spec);
    named.push(v.name);
    return { type: "bind", source: v.path, destination: spec, readonly: false };
  }
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) {
    throw new UsageError(
      `invalid volume ${
        JSON.stringify(spec)
      }: expected HOST-PATH:CONTAINER[:ro] or NAME:CONTAINER[:ro]`,
    );
  }
  const [src, dst, mode = "rw"] = parts;
  if (!dst.startsWith("/")) {
    throw new UsageError(
      `invalid volume ${JSON.stringify(spec)}: the container path must be absolute`,
    );
  }
  const flags = mode.split(",");
  for (const f of flags) {
    if (!["ro", "rw", "z", "Z"].includes(f)) {
      throw new UsageError(`invalid volume mode ${JSON.stringify(mode)}: expected ro or rw`);
    }
  }
  let source = src;
  if (!src.startsWith("/")) {
    const v = volume(host, src, spec);
    named.push(v.name);
    source = v.path;
  }
  return { type: "bind", source, destination: dst, readonly: flags.includes("ro") };
}

function volume(host: RunHost, name: string | undefined, spec: string) {
  if (!host.volume) {
    throw new UsageError(`invalid volume ${JSON.stringify(spec)}: no volume store here`);
  }
  try {
    return host.volume(name);
  } catch (e) {
    throw new UsageError(`invalid volume ${JSON.stringify(spec)}: ${(e as Error).message}`);
  }
}

/** What an image gives a container: its layers (top first) and config. */
export interface RunImage {
  readonly layers: readonly string[];
  readonly config: ImageConfig;
}

/** The image a `ctr run` command line names (undefined with --rootfs), and its --pull policy. */
export function runImageRef(
  argv: readonly string[],
): { ref?: string; pull: "missing" | "always" | "never" } {
  const { opts, positionals } = parseArgs(argv, RUN_OPTIONS, { stopAfterPositionals: 1 });
  const pull = (opts.pull as string | undefined) ?? "missing";
  if (pull !== "missing" && pull !== "always" && pull !== "never") {
    throw new UsageError(
      `invalid --pull ${JSON.stringify(pull)}: expected missing, always or never`,
    );
  }
  return { ref: opts.rootfs ? undefined : positionals[0], pull };
}

/**
 * Turns `ctr run` arguments into a request; `image` is the resolved image when
 * the command line names one. Reads the root filesystem's /etc files for -u.
 */
export function runConfig(argv: readonly string[], host: RunHost, image?: RunImage): RunRequest {
  const { opts, positionals } = parseArgs(argv, RUN_OPTIONS, { stopAfterPositionals: 1 });
  const str = (k: string) => opts[k] as string | undefined;
  const list = (k: string) => (opts[k] as string[] | undefined) ?? [];
  const rootfs = str("rootfs");
  let layers: string[];
  let args: string[];
  let imageProc: ImageProcess | undefined;
  if (rootfs) {
    args = positionals;
    if (args.length === 0) throw new UsageError("no command specified");
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(rootfs);
    } catch {
      throw new UsageError(`root filesystem ${rootfs} does not exist`);
    }
    if (!st.isDirectory) throw new UsageError(`root filesystem ${rootfs} is not a directory`);
    layers = [Deno.realPathSync(rootfs)];
  } else {
    if (positionals.length === 0) {
      throw new UsageError(`"ctr run" requires an image or --rootfs DIR`);
    }
    if (!image) throw new UsageError(`image ${JSON.stringify(positionals[0])} was not resolved`);
    layers = [...image.layers];
    try {
      imageProc = imageProcess(image.config, {
        command: positionals.slice(1),
        entrypoint: str("entrypoint"),
        workdir: str("workdir"),
        user: str("user"),
      });
    } catch (e) {
      throw new UsageError(
        e instanceof NoCommandError ? "no command specified" : (e as Error).message,
      );
    }
    args = [...imageProc.args];
  }
  if (rootfs && str("entrypoint") !== undefined) {
    args = str("entrypoint") ? [str("entrypoint")!, ...args] : args;
  }

  const id = host.newId();
  // Docker names the host after the container's short id unless told otherwise.
  const hostname = str("hostname") ?? (str("uts") === "host" ? undefined : id.slice(0, 12));
  if (hostname !== undefined && !HOSTNAME.test(hostname)) {
    throw new UsageError(
      `invalid hostname ${JSON.stringify(hostname)}: at most 64 letters, digits, dots and dashes`,
    );
  }
  const name = str("name");
  if (name !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
    throw new UsageError(`invalid container name ${JSON.stringify(name)}`);
  }

  const netOpt = opts.net;
  const publish = list("publish");
  const wantsNetwork = publish.length > 0 || str("ip") !== undefined ||
    list("network-alias").length > 0;
  let net: NsMode;
  let networkName: string | undefined;
  if (typeof netOpt === "string" && (netOpt.startsWith("container:") || netOpt.startsWith("ns:"))) {
    if (wantsNetwork) {
      throw new UsageError(`-p, --ip and --network-alias cannot be used with --net=${netOpt}`);
    }
    const target = netOpt.slice(netOpt.indexOf(":") + 1);
    if (!target) throw new UsageError(`invalid value for --net: ${JSON.stringify(netOpt)}`);
    let path = target;
    if (netOpt.startsWith("container:")) {
      if (!host.containerPid) throw new UsageError(`--net=container: is not available here`);
      path = `/proc/${host.containerPid(target)}/ns/net`;
    } else if (!target.startsWith("/")) {
      throw new UsageError(`invalid --net=ns:${target}: the path must be absolute`);
    }
    net = { kind: "path", path };
  } else if (netOpt === "host") {
    if (wantsNetwork) {
      throw new UsageError("-p, --ip and --network-alias need a container network, not --net=host");
    }
    net = { kind: "host" };
  } else if (netOpt === "none" || netOpt === "private") {
    if (wantsNetwork) {
      throw new UsageError(`-p, --ip and --network-alias need a network, not --net=${netOpt}`);
    }
    net = { kind: "new" };
  } else {
    net = { kind: "new" };
    // Plain `ctr run` stays isolated (lo only); `--net` alone, -p, --ip or an alias join "bridge".
    if (netOpt === true || netOpt === "bridge" || (netOpt === undefined && wantsNetwork)) {
      networkName = "bridge";
    } else if (typeof netOpt === "string") {
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/.test(netOpt)) {
        throw new UsageError(
          `invalid value for --net: ${
            JSON.stringify(netOpt)
          } (expected bridge, none, host or a network name)`,
        );
      }
      networkName = netOpt;
    }
  }
  let ports: PortMapping[];
  try {
    ports = parsePortSpecs(publish);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }

  let uidMap = list("uidmap").map((m) => parseIdMap(m, "uidmap"));
  let gidMap = list("gidmap").map((m) => parseIdMap(m, "gidmap"));
  const usernsOpt = opts.userns;
  let userns = uidMap.length > 0 || gidMap.length > 0;
  if (usernsOpt === true || usernsOpt === "auto") userns = true;
  else if (usernsOpt === "host") {
    if (userns) throw new UsageError("--userns=host conflicts with --uidmap/--gidmap");
  } else if (usernsOpt !== undefined) {
    throw new UsageError(
      `invalid value for --userns: ${JSON.stringify(usernsOpt)} (expected auto or host)`,
    );
  }
  if (userns) {
    if (uidMap.length === 0) uidMap = [{ container: 0, host: host.subuidBase, size: 65536 }];
    if (gidMap.length === 0) gidMap = uidMap;
  }

  let noNewPrivileges = false;
  for (const o of list("security-opt")) {
    const m = o.match(/^no-new-privileges(?:[=:](true|false))?$/);
    if (!m) {
      throw new UsageError(
        `unsupported --security-opt ${JSON.stringify(o)} (supported: no-new-privileges)`,
      );
    }
    noNewPrivileges = m[1] !== "false";
  }

  const user = resolveUser(
    imageProc ? imageProc.user || undefined : str("user"),
    layers,
    list("group-add"),
  );
  const allCaps = opts.privileged
    ? capSet(["ALL"], [], [], host.lastCap)
    : capSet(list("cap-add"), list("cap-drop"), undefined, host.lastCap);
  let caps: string[];
  try {
    caps = limitToOwn(allCaps, host.ownCaps, list("cap-add"));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }

  const tty = opts.tty === true;
  // Docker's order: PATH, HOSTNAME, the image's env, TERM and HOME when unset, then -e.
  const env: string[] = imageProc ? [...imageProc.env] : [`PATH=${DEFAULT_PATH}`];
  const has = (k: string) => env.some((e) => e.startsWith(k + "="));
  env.splice(has("PATH") ? 1 : 0, 0, `HOSTNAME=${hostname ?? ""}`);
  if (tty && !has("TERM")) env.push("TERM=xterm");
  if (!has("HOME")) env.push(`HOME=${user.home}`);
  for (const e of list("env")) {
    const eq = e.indexOf("=");
    if (eq === 0) throw new UsageError(`invalid environment variable ${JSON.stringify(e)}`);
    if (eq < 0) {
      if (host.env[e] !== undefined) env.push(`${e}=${host.env[e]}`);
    } else env.push(e);
  }

  const cwd = imageProc ? imageProc.cwd : str("workdir") ?? "/";
  if (!cwd.startsWith("/")) {
    throw new UsageError(`invalid --workdir ${JSON.stringify(cwd)}: must be an absolute path`);
  }

  const volumes: string[] = [];
  const mounts: UserMount[] = list("volume").map((v) => parseVolume(v, host, volumes));
  for (const t of list("tmpfs")) {
    const [dst, ...rest] = t.split(":");
    if (!dst.startsWith("/")) {
      throw new UsageError(`invalid --tmpfs ${JSON.stringify(t)}: the path must be absolute`);
    }
    mounts.push({ type: "tmpfs", destination: dst, options: rest.join(":") });
  }
  for (const m of mounts) {
    if (m.destination === "/" || m.destination.split("/").includes("..")) {
      throw new UsageError(`invalid mount destination ${JSON.stringify(m.destination)}`);
    }
  }

  const rlimits = new Map<string, Rlimit>();
  // Docker raises nofile; ctr never asks above the hard limit it has (root may lack CAP_SYS_RESOURCE).
  const nofile = host.hardNofile < 1048576n ? host.hardNofile : 1048576n;
  rlimits.set("nofile", { type: "nofile", soft: nofile, hard: nofile });
  for (const u of list("ulimit")) {
    const r = parseUlimit(u);
    rlimits.set(r.type, r);
  }

  let limits: Limits;
  try {
    limits = limitsFromFlags({
      memory: str("memory"),
      "memory-swap": str("memory-swap"),
      "memory-reservation": str("memory-reservation"),
      cpus: str("cpus"),
      "cpu-shares": str("cpu-shares"),
      "cpu-weight": str("cpu-weight"),
      "cpuset-cpus": str("cpuset-cpus"),
      "cpuset-mems": str("cpuset-mems"),
      "pids-limit": str("pids-limit"),
      "device-read-bps": list("device-read-bps"),
      "device-write-bps": list("device-write-bps"),
      "oom-score-adj": str("oom-score-adj"),
    }, { privileged: opts.privileged === true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }

  const namespaces: Record<NsType, NsMode> = {
    user: userns ? { kind: "new" } : { kind: "host" },
    mnt: { kind: "new" },
    pid: nsMode(str("pid"), "pid"),
    uts: nsMode(str("uts"), "uts"),
    ipc: nsMode(str("ipc"), "ipc"),
    net,
    cgroup: nsMode(str("cgroupns"), "cgroupns"),
  };
  if (str("hostname") && namespaces.uts.kind === "host") {
    throw new UsageError("--hostname conflicts with --uts=host");
  }
  const config: ContainerConfig = {
    id,
    name: name ?? randomName(),
    nameGenerated: name === undefined,
    image: rootfs ? layers[0] : positionals[0],
    cgroup: { parent: str("cgroup-parent"), limits },
    network: { name: networkName, ip: str("ip"), aliases: list("network-alias"), ports },
    layers,
    dir: `${host.root}/containers/${id}`,
    readOnly: opts["read-only"] === true,
    namespaces,
    uidMap,
    gidMap,
    hostname,
    mounts,
    maskedPaths: opts.privileged ? [] : DEFAULT_MASKED_PATHS,
    readonlyPaths: opts.privileged ? [] : DEFAULT_READONLY_PATHS,
    process: {
      args,
      env: mergeEnv(env),
      cwd,
      uid: user.uid,
      gid: user.gid,
      groups: user.groups,
      caps,
      noNewPrivileges,
      rlimits: [...rlimits.values()],
      terminal: tty,
      stdin: opts.interactive === true,
      dieWithParent: true,
    },
  };
  let restart: RestartPolicy | undefined;
  if (str("restart") !== undefined) {
    try {
      restart = parseRestartPolicy(str("restart")!);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (restart.name !== "no" && opts.rm) {
      throw new UsageError("--restart and --rm conflict: a removed container cannot restart");
    }
  }
  const labels: Record<string, string> = {};
  for (const l of list("label")) {
    const eq = l.indexOf("=");
    if (eq === 0) throw new UsageError(`invalid label ${JSON.stringify(l)}`);
    if (eq < 0) labels[l] = "";
    else labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const log = { maxSize: 10_000_000, maxFiles: 3 };
  for (const o of list("log-opt")) {
    const m = o.match(/^(max-size|max-file)=(.+)$/);
    if (!m) {
      throw new UsageError(
        `unsupported --log-opt ${JSON.stringify(o)} (supported: max-size=SIZE, max-file=N)`,
      );
    }
    if (m[1] === "max-size") {
      if (m[2] === "-1") log.maxSize = 0;
      else {
        try {
          log.maxSize = parseSize("--log-opt max-size", m[2]);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
      }
    } else {
      if (!/^[1-9]\d{0,3}$/.test(m[2])) {
        throw new UsageError(`invalid --log-opt max-file=${m[2]}: expected a count from 1`);
      }
      log.maxFiles = Number(m[2]);
    }
  }
  return {
    config,
    remove: opts.rm === true,
    detach: opts.detach === true,
    restart,
    log,
    labels,
    volumes,
    dryRun: opts["dry-run"] === true,
    pidfile: str("pidfile"),
    name,
  };
}

/** Host facts for runConfig, read from this machine. */
export function readRunHost(root: string, stateDir = "/run/ctr"): RunHost {
  return {
    root,
    env: Deno.env.toObject(),
    lastCap: lastCap(),
    ownCaps: ownCaps(),
    hardNofile: hardNofile(),
    subuidBase: subuidBase(),
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
    newId: () => {
      const b = crypto.getRandomValues(new Uint8Array(32));
      return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    },
  };
}

function hardNofile(): bigint {
  try {
    const line = Deno.readTextFileSync("/proc/self/limits").split("\n").find((l) =>
      l.startsWith("Max open files")
    );
    const hard = line?.trim().split(/\s+/)[4];
    return hard && /^\d+$/.test(hard) ? BigInt(hard) : 1048576n;
  } catch {
    return 1024n;
  }
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
