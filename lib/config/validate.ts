/**
 * The checks every normalized ContainerConfig passes before it is planned,
 * whichever reader made it (run flags, a YAML spec, an OCI bundle), as
 * runc's libcontainer/configs/validate does: a list of small checks, each
 * looking at one part and saying what is wrong in one line.
 * @module
 */

import { CAPS, RLIMIT } from "../../ffi/constants.ts";
import type { ContainerConfig, IdMap } from "./container.ts";
import { destinationProblem, envProblem, hostnameProblem, sysctlNamespace } from "./rules.ts";

/** One check: the problems it finds, one line each. */
type Check = (cfg: ContainerConfig) => string[];

const root: Check = (cfg) =>
  cfg.layers.length === 0
    ? ["the root filesystem has no layer"]
    : cfg.layers.filter((l) => !l.startsWith("/")).map((l) => `layer ${l} is not an absolute path`);

const namespaces: Check = (cfg) => {
  const out: string[] = [];
  if (cfg.namespaces.mnt.kind === "host") {
    // An OCI bundle may share ctr's mount namespace (runc and crun chroot then), but
    // ctr never mounts anything there: the host's mount table would keep it.
    const oci = cfg.oci;
    if (!oci) out.push("a container needs its own mount namespace");
    else if (
      oci.mounts.length || oci.devices.length || cfg.maskedPaths.length ||
      cfg.readonlyPaths.length || cfg.readOnly || Object.keys(oci.sysctl).length
    ) {
      out.push("mounts, devices, masked or read-only paths and sysctls need a mount namespace");
    }
  }
  for (const [t, m] of Object.entries(cfg.namespaces)) {
    if (m.kind === "path" && !m.path.startsWith("/")) {
      out.push(`the ${t} namespace path ${JSON.stringify(m.path)} is not absolute`);
    }
  }
  return out;
};

/** runc refuses a hostname (or domainname) for a container that shares the host's UTS namespace. */
const uts: Check = (cfg) => {
  const out: string[] = [];
  const own = cfg.namespaces.uts.kind === "new";
  const names: [string, string | undefined][] = [
    ["hostname", cfg.hostname],
    ["domainname", cfg.domainname ?? cfg.oci?.domainname],
  ];
  for (const [what, value] of names) {
    if (value === undefined || value === "") continue;
    if (!own) out.push(`unable to set the ${what} without a private UTS namespace`);
    const problem = hostnameProblem(value);
    if (problem) out.push(problem.replace("hostname", what));
  }
  return out;
};

function mapProblems(map: readonly IdMap[], what: string): string[] {
  const out: string[] = [];
  const sorted = [...map].sort((a, b) => a.container - b.container);
  for (const [i, m] of sorted.entries()) {
    const ints = [m.container, m.host, m.size].every((n) => Number.isInteger(n) && n >= 0);
    if (!ints || m.size === 0 || m.container + m.size > 2 ** 32 || m.host + m.size > 2 ** 32) {
      out.push(`${what} ${m.container} ${m.host} ${m.size} is not a valid range`);
    }
    const next = sorted[i + 1];
    if (next && m.container + m.size > next.container) {
      out.push(`${what} ranges overlap at container id ${next.container}`);
    }
  }
  return out;
}

const userns: Check = (cfg) => {
  if (cfg.namespaces.user.kind !== "new") {
    return cfg.uidMap.length || cfg.gidMap.length
      ? ["uid and gid maps need a new user namespace"]
      : [];
  }
  const out = [...mapProblems(cfg.uidMap, "uid map"), ...mapProblems(cfg.gidMap, "gid map")];
  if (cfg.uidMap.length === 0) out.push("a new user namespace needs a uid map");
  if (cfg.gidMap.length === 0) out.push("a new user namespace needs a gid map");
  return out;
};

const mounts: Check = (cfg) => {
  const out: string[] = [];
  for (const m of cfg.mounts) {
    const problem = destinationProblem(m.destination);
    if (problem) out.push(problem);
    if (m.type === "bind" && !m.source.startsWith("/")) {
      out.push(`the source of the mount on ${m.destination} is not absolute: ${m.source}`);
    }
  }
  for (const p of [...cfg.maskedPaths, ...cfg.readonlyPaths]) {
    if (!p.startsWith("/")) {
      out.push(`masked or read-only path ${JSON.stringify(p)} is not absolute`);
    }
  }
  return out;
};

const processCheck: Check = (cfg) => {
  const p = cfg.process;
  const out: string[] = [];
  if (p.args.length === 0 || p.args[0] === "") out.push("the process has no command");
  if (!p.cwd.startsWith("/")) {
    out.push(`the working directory ${JSON.stringify(p.cwd)} is not absolute`);
  }
  for (const e of p.env) {
    const problem = envProblem(e) ??
      (e.includes("=") ? undefined : `environment entry ${JSON.stringify(e)} has no "="`);
    if (problem) out.push(problem);
  }
  for (
    const [what, id] of [
      ["uid", p.uid],
      ["gid", p.gid],
      ...p.groups.map((g) => ["group", g] as const),
    ] as const
  ) {
    if (!Number.isInteger(id) || id < 0 || id >= 2 ** 32 - 1) {
      out.push(`${what} ${id} is out of range`);
    }
  }
  for (const c of p.caps) if (!(c in CAPS)) out.push(`unknown capability ${c}`);
  for (const r of p.rlimits) {
    if (!(r.type in RLIMIT)) out.push(`unknown rlimit ${r.type}`);
    else if (r.soft > r.hard) out.push(`rlimit ${r.type}: the soft limit is above the hard limit`);
  }
  return out;
};

const network: Check = (cfg) => {
  const n = cfg.network;
  const out: string[] = [];
  if (n.name !== undefined && cfg.namespaces.net.kind !== "new") {
    out.push(`joining network ${n.name} needs a new network namespace`);
  }
  if (n.userMode !== undefined && cfg.namespaces.net.kind !== "new") {
    out.push(`a ${n.userMode} network needs a new network namespace`);
  }
  if (n.userMode !== undefined && n.name !== undefined) {
    out.push(`a container joins either network ${n.name} or a ${n.userMode} one`);
  }
  if (n.userMode !== undefined && (n.ip !== undefined || n.aliases.length)) {
    out.push(`a fixed address or aliases need a ctr network, not ${n.userMode}`);
  }
  const ports = n.ports.length > 0 && n.userMode === undefined;
  if ((ports || n.ip !== undefined || n.aliases.length) && n.name === undefined) {
    out.push("published ports, a fixed address or aliases need a network");
  }
  return out;
};

const sysctl: Check = (cfg) => {
  const out: string[] = [];
  for (const key of Object.keys({ ...cfg.sysctl, ...cfg.oci?.sysctl })) {
    const ns = sysctlNamespace(key);
    if (ns === undefined) out.push(`sysctl ${key} is not in a namespace the container owns`);
    else if (cfg.namespaces[ns].kind === "host") {
      out.push(`sysctl ${key} needs the container's own ${ns} namespace`);
    }
  }
  return out;
};

const CHECKS: readonly Check[] = [
  root,
  namespaces,
  uts,
  userns,
  mounts,
  processCheck,
  network,
  sysctl,
];

/** Every problem of a normalized config, one line each (none: it may be planned). */
export function validateConfig(cfg: ContainerConfig): string[] {
  return CHECKS.flatMap((c) => c(cfg));
}
