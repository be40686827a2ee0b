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
  type DeviceNode,
  type DnsSpec,
  type ExtraHost,
  type HealthcheckSpec,
  type IdMap,
  mergeEnv,
  type NsMode,
  type NsType,
  type Rlimit,
  type SeccompSpec,
  type UserModeNet,
  type UserMount,
} from "./container.ts";
import type { DeviceRule } from "./resources.ts";
import {
  type DeviceHost,
  parseDeviceCgroupRule,
  parseDeviceSpec,
  resolveDevice,
} from "./device_spec.ts";
import { healthFromFlags, mergeHealth, resolveHealth } from "./health.ts";
import { decodeKeyValueFile, parseKeyValueFile } from "./kv_file.ts";
import { parseMountSpec, tmpfsMountOptions } from "./mount_spec.ts";
import { refusedFlag } from "./run_refusals.ts";
import { signalByName } from "../../ffi/constants.ts";
import { resolveUser } from "../runtime/user.ts";
import { composeIdMaps, type IdMaps } from "../runtime/userns.ts";
import { limitsFromFlags, parseSize } from "../cgroups/limits.ts";
import type { Limits } from "../cgroups/limits.ts";
import {
  containerNameProblem,
  DEFAULT_DETACH_KEYS,
  dnsSearchProblem,
  envProblem,
  HOST_GATEWAY,
  hostnameProblem,
  ipAddressProblem,
  labelProblem,
  macProblem,
  networkNameProblem,
  parseAttachStreams,
  parseDetachKeys,
  parseExpose,
  parseExtraHost,
  parseLink,
  parseNetworkArg,
  parseRestartPolicy,
  parseSecurityOpts,
  parseSysctl,
  parseTmpfsSpec,
  parseVolumesFrom,
  parseVolumeSpec,
  type RestartPolicy,
  type SecurityOpts,
  type VolumeSpec,
} from "./rules.ts";
import { parseProfileText } from "../runtime/seccomp/profile.ts";
import { hostArch } from "../../ffi/syscalls.ts";
import { randomName } from "./names.ts";
import { parsePortSpecs, type PortMapping } from "../network/ports.ts";
import { imageDefaults, imageProcess, NoCommandError } from "../image/container_defaults.ts";
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
  /** A recorded container by name or id (--link, --volumes-from); throws when none. */
  readonly container?: (ref: string) => KnownContainer;
  /** Reads a file the command line names (--env-file, --label-file); Deno.readFileSync by default. */
  readonly readFile?: (path: string) => Uint8Array;
  /** Looks at host devices (--device); Deno's stat and readDir by default. */
  readonly devices?: DeviceHost;
  /** The directory relative --mount sources start from (default /). */
  readonly cwd?: string;
  /** This host's architecture, for --platform (default Deno.build.arch). */
  readonly arch?: string;
  /** The host's own name (a container on the host's network is named after it, as docker does). */
  readonly hostHostname?: () => string;
}

/** What `--link` and `--volumes-from` need to know about another container. */
export interface KnownContainer {
  readonly id: string;
  readonly name: string;
  readonly hostname?: string;
  /** Its address on its network, when it has one and runs. */
  readonly ip?: string;
  readonly running: boolean;
  /** Its volumes and bind mounts. */
  readonly mounts: readonly UserMount[];
  /** The named volumes among them. */
  readonly volumes: readonly string[];
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
  /** `--cidfile`: where to write the id (refused when the file exists). */
  readonly cidfile?: string;
  /** The streams a foreground run attaches (`-a`; default stdout and stderr, stdin with -i). */
  readonly attach: { readonly stdin: boolean; readonly stdout: boolean; readonly stderr: boolean };
  /** Close the container's stdin when the attached client's ends (docker's StdinOnce: `-i` attached). */
  readonly stdinOnce: boolean;
  /** Pass the signals ctr gets on to the container (`--sig-proxy`, default true). */
  readonly sigProxy: boolean;
  /** The key sequence that detaches an attached terminal (`--detach-keys`). */
  readonly detachKeys: string;
  /** `--log-driver none`: a detached container's output is dropped. */
  readonly noLog: boolean;
  /** What the user should know but does not stop the run (docker's CLI warnings). */
  readonly warnings: readonly string[];
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
  check(refusedFlag(opts, host.arch));
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
  // On the host's network it is named after the host (docker's), unless the UTS is the host's.
  const networks = list("network").map((v) => attempt(() => parseNetworkArg(v)));
  const firstNet = networks.at(0);
  const onHostNet = (firstNet?.name ?? opts.net) === "host";
  const hostname = str("hostname") ??
    (str("uts") === "host"
      ? undefined
      : onHostNet && host.hostHostname
      ? host.hostHostname()
      : id.slice(0, 12));
  if (hostname !== undefined) check(hostnameProblem(hostname));
  const name = str("name");
  if (name !== undefined) check(containerNameProblem(name));

  // --network is docker's spelling (it always takes a value); --net alone means bridge.
  if (firstNet !== undefined && opts.net !== undefined && opts.net !== firstNet.name) {
    throw new UsageError("conflicting options: --net and --network name different networks");
  }
  const netOpt: string | true | undefined = firstNet?.name === "default"
    ? "bridge"
    : firstNet?.name ?? opts.net;
  const netIp = firstNet?.ip ?? str("ip");
  const netAliases = [...list("network-alias"), ...(firstNet?.aliases ?? [])];
  const exposed = new Set<string>(imageProc?.exposedPorts ?? []);
  for (const e of list("expose")) for (const p of attempt(() => parseExpose(e))) exposed.add(p);
  const publish = [...list("publish")];
  if (opts["publish-all"]) {
    // Every exposed port that -p does not publish, on a port the kernel picks, as docker's -P.
    const taken = new Set(
      attempt(() => parsePortSpecs(publish)).map((p) => `${p.containerPort}/${p.protocol}`),
    );
    for (const p of exposed) if (!p.endsWith("/sctp") && !taken.has(p)) publish.push(p);
  }
  const mac = str("mac-address");
  if (mac !== undefined) check(macProblem(mac));
  const wantsNetwork = publish.length > 0 || netIp !== undefined ||
    netAliases.length > 0 || mac !== undefined || list("link").length > 0;
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
    if (netIp !== undefined || netAliases.length > 0) {
      throw new UsageError(`--ip and --network-alias need a ctr network, not --net=${netOpt}`);
    }
    net = { kind: "new" };
    userMode = netOpt;
  } else if (
    host.rootless &&
    (netOpt === true || netOpt === "bridge" || (netOpt === undefined && wantsNetwork))
  ) {
    // Rootless, the default network is a user-mode one: bridges need privileges.
    if (netIp !== undefined || netAliases.length > 0) {
      throw new UsageError("--ip and --network-alias need a ctr network, which needs root");
    }
    net = { kind: "new" };
    userMode = "slirp4netns";
  } else if (
    typeof netOpt === "string" && (netOpt.startsWith("container:") || netOpt.startsWith("ns:"))
  ) {
    if (wantsNetwork) {
      throw new UsageError(
        `-p, --ip, --mac-address, --link and --network-alias cannot be used with --net=${netOpt}`,
      );
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
      throw new UsageError(
        "-p, --ip, --mac-address, --link and --network-alias need a container network, not --net=host",
      );
    }
    net = { kind: "host" };
  } else if (netOpt === "none" || netOpt === "private") {
    if (wantsNetwork) {
      throw new UsageError(
        `-p, --ip, --mac-address, --link and --network-alias need a network, not --net=${netOpt}`,
      );
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
  const more = networks.slice(1).map((e) => ({
    ...e,
    name: e.name === "default" ? "bridge" : e.name,
  }));
  if (more.length > 0) {
    if (networkName === undefined) {
      throw new UsageError(
        "conflicting options: cannot attach both user-defined and non-user-defined network-modes",
      );
    }
    for (const e of more) {
      const problem = networkNameProblem(e.name) ??
        (["host", "none", "private", "slirp4netns", "pasta"].includes(e.name) ||
            /^(container|ns):/.test(e.name)
          ? `--network ${e.name} is no ctr network`
          : undefined);
      if (problem) {
        throw new UsageError(
          `conflicting options: cannot attach both user-defined and non-user-defined network-modes (${problem})`,
        );
      }
    }
    const names = [networkName, ...more.map((e) => e.name)];
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw new UsageError(`--network ${twice} is given twice`);
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
  // docker's order: the env files, then -e.
  for (const f of list("env-file")) env.push(...readKeyValues(f, host, true));
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
  for (const m of list("mount")) mounts.push(mountOf(m, host, volumes));
  for (const t of list("tmpfs")) {
    mounts.push({ type: "tmpfs", ...attempt(() => parseTmpfsSpec(t)) });
  }
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.destination)) throw new UsageError(`Duplicate mount point: ${m.destination}`);
    seen.add(m.destination);
  }
  // --volumes-from: another container's volumes and binds, where this one mounts nothing itself.
  for (const v of list("volumes-from")) {
    for (const m of volumesFrom(v, host, volumes)) {
      if (!seen.has(m.destination)) mounts.push(m), seen.add(m.destination);
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

  const devHost: DeviceHost = host.devices ??
    {
      stat: (p) => Deno.statSync(p),
      lstat: (p) => Deno.lstatSync(p),
      readDir: (p) => Deno.readDirSync(p),
    };
  const devices: DeviceNode[] = [];
  const deviceRules: DeviceRule[] = [];
  for (const d of list("device")) {
    const r = attempt(() => resolveDevice(parseDeviceSpec(d), devHost));
    devices.push(...r.nodes);
    deviceRules.push(...r.rules);
  }
  for (const r of list("device-cgroup-rule")) {
    deviceRules.push(attempt(() => parseDeviceCgroupRule(r)));
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
      "cpu-period": str("cpu-period"),
      "cpu-quota": str("cpu-quota"),
      "cpu-rt-period": str("cpu-rt-period"),
      "cpu-rt-runtime": str("cpu-rt-runtime"),
      "blkio-weight": str("blkio-weight"),
      "blkio-weight-device": list("blkio-weight-device"),
      "device-read-iops": list("device-read-iops"),
      "device-write-iops": list("device-write-iops"),
      "memory-swappiness": str("memory-swappiness"),
      "oom-kill-disable": opts["oom-kill-disable"] === true,
    }, { privileged: opts.privileged === true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (!opts.privileged && deviceRules.length) {
    limits = { ...limits, devices: { allowAll: false, extra: deviceRules } };
  }
  const warnings: string[] = [];
  if (limits.oomKillDisable && limits.memory === undefined) {
    warnings.push(
      "Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous.",
    );
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
  const domainname = str("domainname") || undefined;
  if (domainname !== undefined) {
    check(hostnameProblem(domainname)?.replace("hostname", "domainname"));
    if (namespaces.uts.kind === "host") {
      throw new UsageError("--domainname conflicts with --uts=host");
    }
  }

  // /etc/hosts and /etc/resolv.conf: --add-host and --link lines, --dns*.
  const extraHosts: ExtraHost[] = [];
  for (const a of list("add-host")) {
    const h = attempt(() => parseExtraHost(a));
    if (h.ip === HOST_GATEWAY && !networkName) {
      throw new UsageError(
        `--add-host ${a}: ${HOST_GATEWAY} is the gateway of the container's network, and it joins none`,
      );
    }
    extraHosts.push({ ip: h.ip, names: [h.name] });
  }
  for (const l of list("link")) extraHosts.push(linkHost(l, host));
  for (const d of list("dns")) check(ipAddressProblem(d));
  for (const d of list("dns-search")) check(dnsSearchProblem(d));
  const dns: DnsSpec | undefined =
    list("dns").length || list("dns-search").length || list("dns-option").length
      ? { servers: list("dns"), search: list("dns-search"), options: list("dns-option") }
      : undefined;

  const sysctl: Record<string, string> = {};
  for (const e of list("sysctl")) {
    const [k, v] = attempt(() => parseSysctl(e));
    sysctl[k] = v;
  }
  let shmSize: number | undefined;
  if (str("shm-size") !== undefined) {
    shmSize = attempt(() => parseSize("--shm-size", str("shm-size")!));
    if (shmSize <= 0) {
      throw new UsageError(`invalid --shm-size ${str("shm-size")}: must be above 0`);
    }
  }

  const healthcheck: HealthcheckSpec | undefined = attempt(() =>
    resolveHealth(mergeHealth(
      image ? imageDefaults(image.config).healthcheck : undefined,
      healthFromFlags({
        cmd: str("health-cmd"),
        interval: str("health-interval"),
        timeout: str("health-timeout"),
        startPeriod: str("health-start-period"),
        retries: str("health-retries"),
        none: opts["no-healthcheck"] === true,
      }),
    ))
  );
  const stopSignal = str("stop-signal") ||
    (image ? imageDefaults(image.config).stopSignal : undefined);
  if (stopSignal !== undefined) {
    attempt(() => signalByName(stopSignal), `Invalid signal: ${stopSignal}`);
  }
  let stopTimeout: number | undefined;
  if (str("stop-timeout") !== undefined) {
    const t = str("stop-timeout")!.trim();
    if (!/^-?\d+$/.test(t) || Number(t) < -1) {
      throw new UsageError(
        `invalid argument ${
          JSON.stringify(t)
        } for "--stop-timeout" flag: expected seconds (-1: wait for ever)`,
      );
    }
    stopTimeout = Number(t);
  }

  const interactive = opts.interactive === true;
  const attachList = list("attach");
  const streams = attempt(() => parseAttachStreams(attachList));
  if (attachList.length && opts.detach) throw new UsageError("Conflicting options: -a and -d");
  const attach = attachList.length
    ? { stdin: streams.stdin || interactive, stdout: streams.stdout, stderr: streams.stderr }
    : { stdin: interactive, stdout: true, stderr: true };
  const detachKeys = str("detach-keys") ?? DEFAULT_DETACH_KEYS;
  attempt(() => parseDetachKeys(detachKeys));
  const config: ContainerConfig = {
    id,
    name: name ?? randomName(),
    nameGenerated: name === undefined,
    image: rootfs ? layers[0] : positionals[0],
    cgroup: { parent: str("cgroup-parent"), limits },
    network: {
      name: networkName,
      ...(userMode && { userMode }),
      ip: netIp,
      aliases: netAliases,
      ports,
      ...(more.length && { more }),
      ...(mac !== undefined && { mac: mac.replaceAll("-", ":").toLowerCase() }),
      ...(extraHosts.length && { extraHosts }),
      ...(dns && { dns }),
    },
    layers,
    dir: `${host.root}/containers/${id}`,
    readOnly: opts["read-only"] === true,
    namespaces,
    uidMap,
    gidMap,
    hostname,
    mounts,
    ...(devices.length && { devices }),
    ...(Object.keys(sysctl).length && { sysctl }),
    ...(domainname !== undefined && { domainname }),
    ...(shmSize !== undefined && { shmSize }),
    ...(opts.init === true && { init: true }),
    ...(healthcheck && { healthcheck }),
    ...(stopSignal !== undefined && { stopSignal }),
    ...(stopTimeout !== undefined && { stopTimeout }),
    ...(exposed.size && { exposedPorts: [...exposed].sort() }),
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
      stdin: interactive,
      dieWithParent: true,
      ...(attachList.length && { attach: { stdout: attach.stdout, stderr: attach.stderr } }),
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
  // docker's: the image's labels, then the container's own on top.
  const labels: Record<string, string> = image ? { ...imageDefaults(image.config).labels } : {};
  for (
    const l of [...list("label-file").flatMap((f) => readKeyValues(f, host)), ...list("label")]
  ) {
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
    cidfile: str("cidfile"),
    attach,
    stdinOnce: interactive && attach.stdin && opts.detach !== true,
    sigProxy: opts["sig-proxy"] !== false,
    detachKeys,
    noLog: str("log-driver") === "none",
    warnings,
  };
}

/** Runs a parser; what it throws becomes a usage error (`message`, when given, replaces its words). */
function attempt<T>(fn: () => T, message?: string): T {
  try {
    return fn();
  } catch (e) {
    throw new UsageError(message ?? (e as Error).message);
  }
}

/** The entries of an --env-file (`lookup`: a bare KEY takes ctr's variable) or --label-file. */
function readKeyValues(path: string, host: RunHost, lookup = false): string[] {
  let bytes: Uint8Array;
  try {
    bytes = (host.readFile ?? Deno.readFileSync)(path);
  } catch (e) {
    throw new UsageError(`open ${path}: ${(e as Error).message}`);
  }
  return attempt(() =>
    parseKeyValueFile(decodeKeyValueFile(bytes), {
      path,
      lookup: lookup ? (k) => host.env[k] : undefined,
    })
  );
}

/** A `--mount` as a mount of the container (a volume is made when missing). */
function mountOf(value: string, host: RunHost, named: string[]): UserMount {
  const m = attempt(() => parseMountSpec(value, host.cwd ?? "/"));
  switch (m.type) {
    case "tmpfs":
      return { type: "tmpfs", destination: m.destination, options: tmpfsMountOptions(m) };
    case "volume": {
      const v = volume(host, m.source, value);
      named.push(v.name);
      return { type: "bind", source: v.path, destination: m.destination, readonly: m.readonly };
    }
    case "bind": {
      try {
        Deno.statSync(m.source);
      } catch {
        throw new UsageError(
          `invalid mount config for type "bind": bind source path does not exist: ${m.source}`,
        );
      }
      return {
        type: "bind",
        source: m.source,
        destination: m.destination,
        readonly: m.readonly,
        ...(m.propagation && { propagation: m.propagation }),
        ...(m.nonRecursive && { nonRecursive: true }),
      };
    }
  }
}

/** The volumes and binds of another container (`--volumes-from C[:ro|rw]`). */
function volumesFrom(value: string, host: RunHost, named: string[]): UserMount[] {
  const { container, mode } = attempt(() => parseVolumesFrom(value));
  if (!host.container) throw new UsageError(`--volumes-from is not available here`);
  const c = attempt(() => host.container!(container));
  named.push(...c.volumes);
  return c.mounts.filter((m) => m.type === "bind").map((m) =>
    mode === undefined ? m : { ...m, readonly: mode === "ro" }
  );
}

/** The /etc/hosts line of `--link NAME[:ALIAS]`: the running container's address, as docker writes it. */
function linkHost(value: string, host: RunHost): ExtraHost {
  const { container, alias } = attempt(() => parseLink(value));
  if (!host.container) throw new UsageError(`--link is not available here`);
  const c = attempt(() => host.container!(container));
  if (!c.running) {
    throw new UsageError(`Cannot link to a non running container: /${c.name} AS /${alias}`);
  }
  if (!c.ip) {
    throw new UsageError(`Cannot link to /${c.name}: it is on no network (run it with --net)`);
  }
  const names = [alias, c.hostname ?? c.id.slice(0, 12)];
  if (alias !== c.name) names.push(c.name);
  return { ip: c.ip, names };
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
