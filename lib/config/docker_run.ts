/**
 * docker's `run` options turned into a ContainerConfig: the image's
 * defaults, then the options, every value checked with the shared rules
 * (lib/config/rules.ts). Pure but for reading the root filesystem's /etc
 * files for -u: what it needs of the host comes in a RunHost.
 * @module
 */

import { RLIMIT } from "../../ffi/constants.ts";
import { capSet, limitToOwn } from "../runtime/capabilities.ts";
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
  type SeccompSpec,
  type UserModeNet,
  type UserMount,
} from "./container.ts";
import { resolveUser } from "../runtime/user.ts";
import { composeIdMaps, type IdMaps } from "../runtime/userns.ts";
import { limitsFromFlags, parseSize } from "../cgroups/limits.ts";
import type { Limits } from "../cgroups/limits.ts";
import {
  containerNameProblem,
  envProblem,
  hostnameProblem,
  labelProblem,
  networkNameProblem,
  parseRestartPolicy,
  parseSecurityOpts,
  parseTmpfsSpec,
  parseVolumeSpec,
  type RestartPolicy,
  type SecurityOpts,
  type VolumeSpec,
} from "./rules.ts";
import { parseProfileText } from "../runtime/seccomp/profile.ts";
import { hostArch } from "../../ffi/syscalls.ts";
import { randomName } from "./names.ts";
import { parsePortSpecs, type PortMapping } from "../network/ports.ts";
import { imageProcess, NoCommandError } from "../image/container_defaults.ts";
import type { ImageProcess } from "../image/container_defaults.ts";
import type { ImageConfig } from "../image/schema.ts";
import { UsageError } from "../errors.ts";
import type { RunFlag, RunOptions } from "./run_options.ts";

/** The options of `ctr run`. */
/** Host facts that runConfig needs (passed in so it stays testable). */
export interface RunHost {
  readonly root: string;
  readonly env: Readonly<Record<string, string>>;
  readonly lastCap: number;
  /** The capabilities ctr holds (a mask). */
  readonly ownCaps: bigint;
  readonly hardNofile: bigint;
  readonly subuidBase: number;
  /**
   * ctr runs rootless: every container has a user namespace with these maps
   * (root is the user), and `--uidmap`/`--gidmap` map into them.
   */
  readonly rootless?: IdMaps;
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
  /** The --security-opt values as docker records them (a seccomp profile's file replaced by its JSON). */
  readonly securityOpt: readonly string[];
  readonly pidfile?: string;
  readonly name?: string;
}

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
  let v: VolumeSpec;
  try {
    v = parseVolumeSpec(spec);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  let source = v.source;
  if (v.named) {
    // A name, or none: docker's anonymous volume at that path.
    const made = volume(host, v.source, spec);
    named.push(made.name);
    source = made.path;
  }
  return { type: "bind", source: source!, destination: v.destination, readonly: v.readonly };
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

/**
 * A `--security-opt seccomp=FILE` profile (docker's or the OCI format),
 * checked now, resolved for the container's capabilities and this
 * architecture; errors read as docker's.
 */
function readSeccompProfile(file: string, caps: readonly string[]): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    throw new UsageError(`opening seccomp profile (${file}) failed: ${(e as Error).message}`);
  }
  try {
    parseProfileText(text, { caps, arch: hostArch(), path: "seccomp" });
    // Compact, as docker records it (a stray newline would cut the SecurityOpt line).
    return text.replace(/\s*\n\s*/g, "");
  } catch (e) {
    throw new UsageError(`invalid seccomp profile ${file}: ${(e as Error).message}`);
  }
}

/**
 * The maps of a rootless container: the user's own (root is the user), or
 * `--uidmap`/`--gidmap` read as podman reads them rootless, from container
 * ids to ids of the user's namespace (0 the user, 1.. the subordinate ids).
 */
function rootlessMaps(
  uidMap: readonly IdMap[],
  gidMap: readonly IdMap[],
  own: IdMaps,
): { uidMap: IdMap[]; gidMap: IdMap[] } {
  if (uidMap.length === 0 && gidMap.length === 0) {
    return { uidMap: [...own.uid], gidMap: [...own.gid] };
  }
  try {
    return {
      uidMap: composeIdMaps(uidMap.length ? uidMap : gidMap, own.uid),
      gidMap: composeIdMaps(gidMap.length ? gidMap : uidMap, own.gid),
    };
  } catch (e) {
    throw new UsageError(`invalid --uidmap/--gidmap: ${(e as Error).message}`);
  }
}

/** The --net values a rootless container cannot have, refused with the reason. */
function checkRootlessNet(netOpt: string | boolean | undefined): void {
  if (typeof netOpt !== "string") return;
  if (netOpt.startsWith("container:") || netOpt.startsWith("ns:")) {
    throw new UsageError(
      `--net=${netOpt} is not possible rootless: each container has a user namespace of its ` +
        "own, and joining another's network namespace needs privileges over its owner",
    );
  }
  if (!["none", "private", "host", "bridge", "slirp4netns", "pasta"].includes(netOpt)) {
    throw new UsageError(
      `--net=${netOpt} is not possible rootless: ctr networks are bridges, which need root; ` +
        "use --net=slirp4netns or --net=pasta (published ports reach the host)",
    );
  }
}

/** Throws a rule's problem as a usage error. */
function check(problem: string | undefined): void {
  if (problem !== undefined) throw new UsageError(problem);
}

/** What an image gives a container: its layers (top first) and config. */
export interface RunImage {
  readonly layers: readonly string[];
  readonly config: ImageConfig;
}

/**
 * Turns `ctr run` arguments into a request; `image` is the resolved image when
 * the command line names one. Reads the root filesystem's /etc files for -u.
 */
export function runConfig(o: RunOptions, host: RunHost, image?: RunImage): RunRequest {
  const opts = o.flags;
  const positionals = o.args;
  const str = (k: RunFlag) => opts[k] as string | undefined;
  const list = (k: RunFlag) => (opts[k] as readonly string[] | undefined) ?? [];
  const rootfs = str("rootfs");
  let layers: string[];
  let args: string[];
  let imageProc: ImageProcess | undefined;
  if (rootfs) {
    args = [...positionals];
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
  if (hostname !== undefined) check(hostnameProblem(hostname));
  const name = str("name");
  if (name !== undefined) check(containerNameProblem(name));

  const netOpt = opts.net;
  const publish = list("publish");
  const wantsNetwork = publish.length > 0 || str("ip") !== undefined ||
    list("network-alias").length > 0;
  let net: NsMode;
  let networkName: string | undefined;
  let userMode: UserModeNet | undefined;
  if (host.rootless) checkRootlessNet(netOpt);
  if (netOpt === "pasta" && !host.rootless) {
    throw new UsageError(
      "--net=pasta is for rootless containers: run as root, pasta drops to nobody, who may " +
        "not join the container's namespaces (use --net=slirp4netns or a ctr network)",
    );
  }
  if (netOpt === "slirp4netns" || netOpt === "pasta") {
    if (str("ip") !== undefined || list("network-alias").length > 0) {
      throw new UsageError(`--ip and --network-alias need a ctr network, not --net=${netOpt}`);
    }
    net = { kind: "new" };
    userMode = netOpt;
  } else if (
    host.rootless &&
    (netOpt === true || netOpt === "bridge" || (netOpt === undefined && wantsNetwork))
  ) {
    // Rootless, the default network is a user-mode one: bridges need privileges.
    if (str("ip") !== undefined || list("network-alias").length > 0) {
      throw new UsageError("--ip and --network-alias need a ctr network, which needs root");
    }
    net = { kind: "new" };
    userMode = "slirp4netns";
  } else if (
    typeof netOpt === "string" && (netOpt.startsWith("container:") || netOpt.startsWith("ns:"))
  ) {
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
      const problem = networkNameProblem(netOpt);
      if (problem) {
        throw new UsageError(`${problem} (--net takes bridge, none, host or a network name)`);
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
  if (host.rootless) {
    if (usernsOpt === "host") {
      throw new UsageError(
        "--userns=host is not possible rootless: the container's root must be mapped to you",
      );
    }
    ({ uidMap, gidMap } = rootlessMaps(uidMap, gidMap, host.rootless));
  }
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

  let security: SecurityOpts;
  try {
    security = parseSecurityOpts(list("security-opt"));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const noNewPrivileges = security.noNewPrivileges;

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

  // --privileged turns the filter off whatever --security-opt says, as docker does.
  let seccomp: SeccompSpec | undefined;
  const securityOpt = [...list("security-opt")];
  if (!opts.privileged && security.seccomp === "default") seccomp = { kind: "default" };
  else if (!opts.privileged && typeof security.seccomp === "object") {
    const file = security.seccomp.file;
    seccomp = { kind: "profile", text: readSeccompProfile(file, caps), source: file };
    // docker records the profile itself, not the file it came from.
    const at = securityOpt.findIndex((o) => /^seccomp[=:]/.test(o) && !o.endsWith("unconfined"));
    securityOpt[at] = `seccomp=${seccomp.text}`;
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
    check(envProblem(e));
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
    try {
      mounts.push({ type: "tmpfs", ...parseTmpfsSpec(t) });
    } catch (e) {
      throw new UsageError((e as Error).message);
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
    network: {
      name: networkName,
      ...(userMode && { userMode }),
      ip: str("ip"),
      aliases: list("network-alias"),
      ports,
    },
    layers,
    dir: `${host.root}/containers/${id}`,
    readOnly: opts["read-only"] === true,
    namespaces,
    uidMap,
    gidMap,
    hostname,
    mounts,
    maskedPaths: opts.privileged || security.systemPathsUnconfined ? [] : DEFAULT_MASKED_PATHS,
    readonlyPaths: opts.privileged || security.systemPathsUnconfined ? [] : DEFAULT_READONLY_PATHS,
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
      seccomp,
      apparmorProfile: security.apparmor,
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
    check(labelProblem(l));
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
    securityOpt,
    pidfile: str("pidfile"),
    name,
  };
}

/** The image a `ctr run` command line names (undefined with --rootfs), and its --pull policy. */
export function runImageRef(
  o: RunOptions,
): { ref?: string; pull: "missing" | "always" | "never" } {
  const pull = o.flags.pull ?? "missing";
  if (pull !== "missing" && pull !== "always" && pull !== "never") {
    throw new UsageError(
      `invalid --pull ${JSON.stringify(pull)}: expected missing, always or never`,
    );
  }
  return { ref: o.flags.rootfs ? undefined : o.args[0], pull };
}
