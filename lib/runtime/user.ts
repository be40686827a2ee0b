/**
 * The container's user: `-u` specs (uid[:gid], name[:group]) resolved against
 * the root filesystem's /etc/passwd and /etc/group, as docker does.
 * @module
 */

import { lookup, resolveInRoot } from "./paths.ts";

/** A resolved user. */
export interface User {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups. */
  readonly groups: readonly number[];
  /** Home directory (for $HOME). */
  readonly home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function readInRoot(layers: readonly string[], path: string): string | undefined {
  const found = lookup(layers, resolveInRoot(layers, path));
  if (!found || found.kind !== "file") return undefined;
  try {
    return Deno.readTextFileSync(found.hostPath);
  } catch {
    return undefined;
  }
}

/** Parses /etc/passwd text. */
export function parsePasswd(text: string): PasswdEntry[] {
  return text.split("\n").filter((l) => l && !l.startsWith("#")).flatMap((l) => {
    const f = l.split(":");
    if (f.length < 7) return [];
    const uid = Number(f[2]), gid = Number(f[3]);
    return Number.isInteger(uid) && Number.isInteger(gid)
      ? [{ name: f[0], uid, gid, home: f[5] || "/" }]
      : [];
  });
}

/** Parses /etc/group text. */
export function parseGroup(text: string): GroupEntry[] {
  return text.split("\n").filter((l) => l && !l.startsWith("#")).flatMap((l) => {
    const f = l.split(":");
    if (f.length < 4) return [];
    const gid = Number(f[2]);
    return Number.isInteger(gid)
      ? [{ name: f[0], gid, members: f[3].split(",").filter(Boolean) }]
      : [];
  });
}

const ID = /^\d+$/;
const MAX_ID = 0xfffffffe;

function numeric(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n > MAX_ID) throw new Error(`Invalid ${what}: ${s}`);
  return n;
}

/**
 * Resolves a `-u` spec in the root made of `layers`. Unknown names are
 * errors; unknown numeric ids are used as they are (gid 0, home /).
 */
export function resolveUser(
  spec: string | undefined,
  layers: readonly string[],
  extraGroups: readonly string[] = [],
): User {
  const [userPart, groupPart] = (spec ?? "0").split(":", 2);
  if (userPart === "") throw new Error(`Invalid user: ${JSON.stringify(spec)}`);
  const passwd = parsePasswd(readInRoot(layers, "/etc/passwd") ?? "");
  const groups = parseGroup(readInRoot(layers, "/etc/group") ?? "");
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (ID.test(userPart)) {
    uid = numeric(userPart, "uid");
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) {
      throw new Error(`Unable to find user ${userPart}: no matching entries in passwd file`);
    }
    uid = entry.uid;
  }
  const groupId = (g: string): number => {
    if (ID.test(g)) return numeric(g, "gid");
    const e = groups.find((x) => x.name === g);
    if (!e) throw new Error(`Unable to find group ${g}: no matching entries in group file`);
    return e.gid;
  };
  const gid = groupPart !== undefined ? groupId(groupPart) : entry?.gid ?? 0;
  const sup = new Set<number>();
  if (entry && groupPart === undefined) {
    for (const g of groups) if (g.members.includes(entry.name)) sup.add(g.gid);
  }
  for (const g of extraGroups) sup.add(groupId(g));
  sup.delete(gid);
  return { uid, gid, groups: [gid, ...sup], home: entry?.home ?? "/" };
}
