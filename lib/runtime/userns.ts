/**
 * User namespaces for a user without privileges (rootless ctr): the maps of
 * the namespace every container and helper gets, and how they are written.
 *
 * The namespace's root is the invoking user; ids 1 and up are the user's
 * subordinate ranges from /etc/subuid and /etc/subgid, in file order, as
 * podman maps them. Only the setuid helpers of Debian's `uidmap` package,
 * newuidmap and newgidmap, may write such maps for an unprivileged process:
 * they check the ranges against those files. Without a range the map is
 * the user's own id alone, which the user may write itself.
 *
 * A multithreaded process cannot enter a user namespace, and ctr (Deno) is
 * one: whatever must run as the namespace's root runs in a child made by a
 * plan with CLONE_NEWUSER, whose maps the parent writes while it waits at
 * phase 0 (runInUserNamespace; a container's plan does the same).
 * @module
 */

import { CLONE } from "../../ffi/constants.ts";
import { close, pipe, readSync } from "../../ffi/sys.ts";
import type { IdMap } from "../config/container.ts";
import { formatIdMap, writeIdMap } from "./idmap.ts";
import { readPlanHost } from "./host.ts";
import { int, type Plan, PlanError, type Step, syncPoint } from "./plan.ts";
import { spawnSync, waitPidfdSync } from "./spawn.ts";
import {
  becomeRoot,
  closeFd,
  closeOtherFds,
  dupTo,
  execPath,
  resetSignals,
  unblockSignals,
} from "./steps.ts";

/** A range of subordinate ids: one line of /etc/subuid or /etc/subgid. */
export interface SubordinateRange {
  readonly start: number;
  readonly count: number;
}

/** The uid and gid maps of a user namespace. */
export interface IdMaps {
  readonly uid: readonly IdMap[];
  readonly gid: readonly IdMap[];
}

/**
 * The ranges an /etc/subuid or /etc/subgid text gives a user, named by
 * login name or by number (newuidmap accepts both), in file order.
 */
export function subordinateRanges(
  text: string,
  who: { readonly name?: string; readonly id: number },
): SubordinateRange[] {
  const out: SubordinateRange[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [owner, start, count] = line.split(":");
    if (owner !== who.name && owner !== String(who.id)) continue;
    if (!/^\d+$/.test(start ?? "") || !/^\d+$/.test(count ?? "") || Number(count) === 0) continue;
    out.push({ start: Number(start), count: Number(count) });
  }
  return out;
}

/**
 * The map of a rootless user namespace: container id 0 is the user's own
 * `id`, ids from 1 are the ranges one after another.
 */
export function rootlessIdMap(id: number, ranges: readonly SubordinateRange[]): IdMap[] {
  const map: IdMap[] = [{ container: 0, host: id, size: 1 }];
  let next = 1;
  for (const r of ranges) {
    map.push({ container: next, host: r.start, size: r.count });
    next += r.count;
  }
  return map;
}

/** How many ids a map holds. */
export function mapSize(map: readonly IdMap[]): number {
  return map.reduce((n, m) => n + m.size, 0);
}

/**
 * A map from container ids to ids of the rootless user's namespace (`inner`,
 * as podman reads `--uidmap` in rootless mode), made a map to host ids
 * through the user's map (`outer`). Throws when an id of `inner` falls
 * outside what the user owns.
 */
export function composeIdMaps(inner: readonly IdMap[], outer: readonly IdMap[]): IdMap[] {
  const out: IdMap[] = [];
  for (const m of inner) {
    let done = 0;
    while (done < m.size) {
      const id = m.host + done;
      const o = outer.find((x) => id >= x.container && id < x.container + x.size);
      if (!o) {
        throw new Error(
          `Cannot map ${m.container + done}: id ${id} is not among the ${mapSize(outer)} ids ` +
            `this user owns (0-${mapSize(outer) - 1}; see /etc/subuid and /etc/subgid)`,
        );
      }
      const size = Math.min(m.size - done, o.container + o.size - id);
      out.push({ container: m.container + done, host: o.host + (id - o.container), size });
      done += size;
    }
  }
  return out;
}

/** Whether a map names only `id`, once: what a user may write without newuidmap. */
function ownIdOnly(map: readonly IdMap[], id: number): boolean {
  return map.length === 1 && map[0].size === 1 && map[0].host === id;
}

/**
 * Whether a process in a namespace with this gid map may call setgroups:
 * not when only one gid is mapped, where the map was written with
 * setgroups denied (the kernel's rule for an unprivileged writer, and
 * newgidmap's for a user's own gid alone).
 */
export function setgroupsAllowed(gidMap: readonly IdMap[]): boolean {
  return mapSize(gidMap) > 1;
}

/** The steps but setgroups: for a namespace where setgroups is denied. */
export function withoutSetgroups(steps: readonly Step[]): Step[] {
  return steps.filter((s) => s.call !== "setgroups");
}

/** Whether a process's user namespace denies setgroups (/proc/PID/setgroups). */
export function setgroupsDenied(pid: number): boolean {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/setgroups`).trim() === "deny";
  } catch {
    return false;
  }
}

/** How to reach the setuid helpers (tests point them elsewhere). */
export interface MapWriters {
  readonly newuidmap: string;
  readonly newgidmap: string;
}

/** Debian's uidmap package. */
export const UIDMAP_HELPERS: MapWriters = {
  newuidmap: "/usr/bin/newuidmap",
  newgidmap: "/usr/bin/newgidmap",
};

/** newuidmap's and newgidmap's arguments: the pid, then `inside outside count` triples. */
export function mapHelperArgs(pid: number, map: readonly IdMap[]): string[] {
  return [
    String(pid),
    ...map.flatMap((m) => [String(m.container), String(m.host), String(m.size)]),
  ];
}

function runMapHelper(path: string, pid: number, map: readonly IdMap[]): void {
  let out: Deno.CommandOutput;
  try {
    out = new Deno.Command(path, {
      args: mapHelperArgs(pid, map),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
  } catch (e) {
    throw new Error(
      `Cannot write the user namespace's map with ${path}: ${(e as Error).message} ` +
        "(install Debian's uidmap package)",
    );
  }
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
    throw new Error(
      `${path} ${mapHelperArgs(pid, map).join(" ")} failed: ${why || `exit ${out.code}`}`,
    );
  }
}

/**
 * Writes a waiting child's uid and gid maps. Root writes the files itself;
 * a user goes through newuidmap and newgidmap, except for a map of its own
 * ids alone, which it writes itself after denying setgroups (the kernel's
 * condition for an unprivileged gid_map).
 */
export function applyIdMaps(pid: number, maps: IdMaps, writers = UIDMAP_HELPERS): void {
  const uid = Deno.uid() ?? 0, gid = Deno.gid() ?? 0;
  if (uid === 0) {
    writeIdMap(pid, "uid_map", maps.uid);
    writeIdMap(pid, "gid_map", maps.gid);
    return;
  }
  if (ownIdOnly(maps.uid, uid)) writeIdMap(pid, "uid_map", maps.uid);
  else runMapHelper(writers.newuidmap, pid, maps.uid);
  if (ownIdOnly(maps.gid, gid)) {
    try {
      Deno.writeTextFileSync(`/proc/${pid}/setgroups`, "deny");
    } catch (e) {
      throw new Error(`Cannot write /proc/${pid}/setgroups (deny): ${(e as Error).message}`);
    }
    writeIdMap(pid, "gid_map", maps.gid);
  } else runMapHelper(writers.newgidmap, pid, maps.gid);
}

/** A helper's run in a user namespace: its exit code and what it wrote on stderr. */
export interface HelperResult {
  readonly code: number;
  readonly stderr: string;
}

/**
 * The plan of a helper: in a new user namespace (and mount namespace, so
 * nothing it might mount outlives it), wait for the maps, become the
 * namespace's root, and exec `argv` with stdin on /dev/null and stderr on
 * the pipe whose write end is `stderrFd`.
 */
export function helperPlan(
  argv: readonly string[],
  o: {
    readonly env: readonly string[];
    readonly stderrFd: number;
    readonly gidMap: readonly IdMap[];
    /** Signals ctr caught or ignored: back to their defaults for the helper. */
    readonly resetSignals: readonly number[];
  },
): Plan {
  const root = becomeRoot();
  return {
    cloneFlags: CLONE.NEWUSER | CLONE.NEWNS,
    steps: [
      closeFd({ fd: "syncWrite" }, "close the parent's end of the sync pipe"),
      closeFd({ fd: "errRead" }, "close the parent's end of the error pipe"),
      ...syncPoint(0, "the uid and gid maps"),
      ...(setgroupsAllowed(o.gidMap) ? root : withoutSetgroups(root)),
      dupTo({ fd: "devNull" }, 0, "stdin from /dev/null"),
      dupTo(int(o.stderrFd), 2, "stderr to ctr"),
      closeOtherFds(3),
      ...resetSignals(o.resetSignals),
      unblockSignals(),
      execPath(argv[0], argv, o.env, `exec the helper ${argv[0]}`),
    ],
  };
}

/**
 * Runs `argv` (a host program) as root of a user namespace made for it
 * with `maps`, and waits for it: what a rootless ctr does to give files
 * the owners of its subordinate ids or to delete them. Synchronous.
 */
export function runInUserNamespace(
  argv: readonly string[],
  maps: IdMaps,
  o: { readonly env?: readonly string[]; readonly writers?: MapWriters } = {},
): HelperResult {
  let [errR, errW] = pipe();
  let pidfd = -1;
  try {
    const env = o.env ?? Object.entries(Deno.env.toObject()).map(([k, v]) => `${k}=${v}`);
    const plan = helperPlan(argv, {
      env,
      stderrFd: errW,
      gidMap: maps.gid,
      resetSignals: readPlanHost().resetSignals,
    });
    try {
      pidfd = spawnSync(plan, (pid) => applyIdMaps(pid, maps, o.writers)).pidfd;
    } catch (e) {
      if (e instanceof PlanError) {
        throw new Error(`Cannot start ${argv[0]} in a user namespace: ${e.message}`);
      }
      throw e;
    }
    close(errW);
    errW = -1;
    const stderr = readToEnd(errR);
    return { code: waitPidfdSync(pidfd).code, stderr };
  } finally {
    if (pidfd >= 0) close(pidfd);
    close(errR);
    errR = -1;
    if (errW >= 0) close(errW);
  }
}

/** Reads a pipe until EOF, as text. */
function readToEnd(fd: number): string {
  const dec = new TextDecoder();
  const buf = new Uint8Array(4096);
  let text = "";
  for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) {
    text += dec.decode(buf.subarray(0, n), { stream: true });
  }
  return text + dec.decode();
}

/** The maps, as the kernel's files hold them (for messages). */
export function showIdMaps(maps: IdMaps): string {
  return `uid_map ${formatIdMap(maps.uid).trim().replaceAll("\n", ", ")}; ` +
    `gid_map ${formatIdMap(maps.gid).trim().replaceAll("\n", ", ")}`;
}
