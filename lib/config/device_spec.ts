/**
 * docker's `--device HOST[:CONTAINER][:rwm]` and `--device-cgroup-rule
 * 'c 1:3 rwm'`: parsed with docker's rules, and a host device (or every
 * device below a host directory, as docker does) turned into the nodes the
 * container gets and the cgroup rules that let it use them. The host is
 * read through the functions passed in.
 * @module
 */

import { devNumbers } from "../cgroups/limits.ts";
import type { DeviceNode } from "./container.ts";
import type { DeviceRule } from "./resources.ts";

/** A `--device`, parsed. */
export interface DeviceSpec {
  readonly hostPath: string;
  readonly containerPath: string;
  /** Some of r, w, m: what the cgroup allows. */
  readonly access: string;
}

/** Whether `mode` is a device access mode: each of r, w, m at most once. */
export function isDeviceAccess(mode: string): boolean {
  return /^[rwm]{1,3}$/.test(mode) && new Set(mode).size === mode.length;
}

/** Cleans a path as Go's path.Clean does for absolute paths (`//a/./b/` → `/a/b`). */
function cleanPath(p: string): string {
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return (p.startsWith("/") ? "/" : "") + out.join("/") || (p.startsWith("/") ? "/" : ".");
}

/** Parses `--device`: `/dev/x`, `/dev/x:rw`, `/dev/x:/dev/y`, `/dev/x:/dev/y:rwm`; throws docker's words. */
export function parseDeviceSpec(value: string): DeviceSpec {
  const parts = value.split(":");
  if (parts.length > 3 || parts[0] === "") throw new Error(`bad format for path: ${value}`);
  let host = parts[0];
  let ctr = parts[0];
  let access = "rwm";
  if (parts.length === 2) {
    if (isDeviceAccess(parts[1])) access = parts[1];
    else ctr = parts[1];
  } else if (parts.length === 3) {
    ctr = parts[1];
    if (!isDeviceAccess(parts[2])) throw new Error(`bad mode specified: ${parts[2]}`);
    access = parts[2];
  }
  if (!ctr.startsWith("/")) throw new Error(`${ctr} is not an absolute path`);
  host = cleanPath(host);
  ctr = cleanPath(ctr);
  if (!host.startsWith("/")) throw new Error(`${host} is not an absolute path`);
  return { hostPath: host, containerPath: ctr, access };
}

/** Parses `--device-cgroup-rule 'TYPE MAJOR:MINOR ACCESS'` (`*` for any number). */
export function parseDeviceCgroupRule(value: string): DeviceRule {
  const m = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.exec(value);
  if (!m) throw new Error(`invalid device cgroup format '${value}'`);
  const num = (s: string) => (s === "*" ? "*" as const : Number(s));
  return { type: m[1] as DeviceRule["type"], major: num(m[2]), minor: num(m[3]), access: m[4] };
}

/** What resolving a device needs of the host's files (Deno's statSync, lstatSync, readDirSync fit). */
export interface DeviceHost {
  /** Follows symlinks: `--device /dev/disk/by-id/x` names the device it points to. */
  readonly stat: (path: string) => Deno.FileInfo;
  /** Does not: the walk below a directory skips links, as docker's does. */
  readonly lstat: (path: string) => Deno.FileInfo;
  readonly readDir: (path: string) => Iterable<{ name: string }>;
}

/**
 * The nodes and cgroup rules of one `--device`: the device itself, or
 * every character and block device below a directory (at the same place
 * below the container path). The nodes keep the host's mode and owner.
 */
export function resolveDevice(
  spec: DeviceSpec,
  host: DeviceHost,
): { nodes: DeviceNode[]; rules: DeviceRule[] } {
  const nodes: DeviceNode[] = [];
  const rules: DeviceRule[] = [];
  const add = (hostPath: string, ctrPath: string, st: Deno.FileInfo) => {
    const type = st.isCharDevice ? "c" : "b";
    const { major, minor } = devNumbers(st.rdev ?? 0);
    nodes.push({
      source: hostPath,
      path: ctrPath,
      type,
      major,
      minor,
      mode: (st.mode ?? 0o660) & 0o7777,
      uid: st.uid ?? 0,
      gid: st.gid ?? 0,
    });
    rules.push({ type, major, minor, access: spec.access });
  };
  let st: Deno.FileInfo;
  try {
    st = host.stat(spec.hostPath);
  } catch (e) {
    throw new Error(
      `error gathering device information while adding custom device ${
        JSON.stringify(spec.hostPath)
      }: ${(e as Error).message}`,
    );
  }
  if (st.isCharDevice || st.isBlockDevice) {
    add(spec.hostPath, spec.containerPath, st);
  } else if (st.isDirectory) {
    const walk = (dir: string, rel: string) => {
      for (const e of host.readDir(dir)) {
        const p = `${dir}/${e.name}`;
        let s: Deno.FileInfo;
        try {
          s = host.lstat(p);
        } catch {
          continue; // gone meanwhile
        }
        if (s.isCharDevice || s.isBlockDevice) add(p, `${spec.containerPath}${rel}/${e.name}`, s);
        else if (s.isDirectory) walk(p, `${rel}/${e.name}`);
      }
    };
    walk(spec.hostPath, "");
  } else {
    throw new Error(
      `error gathering device information while adding custom device ${
        JSON.stringify(spec.hostPath)
      }: not a device node`,
    );
  }
  return { nodes, rules };
}
