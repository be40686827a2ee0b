/**
 * Owners and modes of what COPY and ADD write: `--chown` (numbers as they
 * are, a lone uid also the gid; names from the stage's /etc/passwd and
 * /etc/group, a lone user name with the user's primary group) and
 * `--chmod` (octal, or symbolic as chmod(1): `+x`, `u=rwX,go=rX`, `g=u`).
 * @module
 */

import type { LayeredRoot } from "./_root.ts";

/** Users and groups of a root file system, by name. */
export interface UserDb {
  user(name: string): { uid: number; gid: number } | undefined;
  group(name: string): number | undefined;
}

/** Parses /etc/passwd and /etc/group text. */
export function userDb(passwd: string, group: string): UserDb {
  const users = new Map<string, { uid: number; gid: number }>();
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f.length >= 4 && /^\d+$/.test(f[2]) && /^\d+$/.test(f[3]) && !users.has(f[0])) {
      users.set(f[0], { uid: Number(f[2]), gid: Number(f[3]) });
    }
  }
  const groups = new Map<string, number>();
  for (const line of group.split("\n")) {
    const f = line.split(":");
    if (f.length >= 3 && /^\d+$/.test(f[2]) && !groups.has(f[0])) groups.set(f[0], Number(f[2]));
  }
  return { user: (n) => users.get(n), group: (n) => groups.get(n) };
}

/** The users and groups of a stage's root (its /etc/passwd and /etc/group, if any). */
export function userDbOf(root: LayeredRoot): UserDb {
  const read = (p: string) => {
    const b = root.readFile(p);
    if (b && b.length > 10 << 20) throw new Error(`${p} is larger than 10 MiB`);
    return b ? new TextDecoder().decode(b) : "";
  };
  return userDb(read("/etc/passwd"), read("/etc/group"));
}

function parseId(s: string): number | undefined {
  if (s === "root") return 0;
  return /^\d+$/.test(s) && Number(s) <= 0x7fffffff ? Number(s) : undefined;
}

/**
 * `--chown=user[:group]`: numbers as they are (a lone uid is also the gid),
 * names from `db` (a lone user name takes the user's primary group).
 */
export function parseChown(spec: string, db?: UserDb): { uid: number; gid: number } {
  const colon = spec.indexOf(":");
  const user = colon === -1 ? spec : spec.slice(0, colon);
  const group = colon === -1 ? undefined : spec.slice(colon + 1);
  let uid = parseId(user);
  let gid = uid;
  if (uid === undefined) {
    const u = db?.user(user);
    if (!u) throw new Error(`unable to find user ${user}: no matching entries in passwd file`);
    uid = u.uid;
    gid = u.gid;
  }
  if (group !== undefined) {
    gid = parseId(group);
    if (gid === undefined) {
      gid = db?.group(group);
      if (gid === undefined) {
        throw new Error(`unable to find group ${group}: no matching entries in group file`);
      }
    }
  }
  return { uid, gid: gid! };
}

// ------------------------------------------------------------------ modes

/** A `--chmod` value: the mode for a file or directory that had `mode`. */
export interface Chmod {
  apply(mode: number, isDir: boolean): number;
  /** The octal value, when given as one (also the mode of created parents). */
  readonly octal?: number;
}

const WHO: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o0007, a: 0o7777 };

/** Parses `--chmod`: octal (`755`) or symbolic (`+x`, `u=rwX,go=rX`, `g=u`). */
export function parseChmod(spec: string): Chmod {
  if (/^[0-7]+$/.test(spec)) {
    const octal = parseInt(spec, 8);
    if (octal > 0o7777) {
      throw new Error(
        `invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777`,
      );
    }
    return { apply: () => octal, octal };
  }
  if (/^\d+$/.test(spec)) {
    throw new Error(
      `invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777`,
    );
  }
  type Action = { who: number; whoAll: boolean; op: string; perm: string };
  const actions: Action[] = [];
  for (const clause of spec.split(",")) {
    const m = clause.match(/^([ugoa]*)((?:[+=-](?:[ugo]|[rwxXst]*))+)$/);
    if (!m) throw new Error(`invalid chmod parameter: '${spec}'`);
    const whoAll = m[1] === "" || m[1].includes("a");
    const who = whoAll ? 0o7777 : [...m[1]].reduce((w, c) => w | WHO[c], 0);
    for (const part of m[2].matchAll(/([+=-])([ugo]|[rwxXst]*)/g)) {
      actions.push({ who, whoAll, op: part[1], perm: part[2] });
    }
  }
  return {
    apply(mode: number, isDir: boolean): number {
      let m = mode & 0o7777;
      for (const a of actions) {
        let bits = 0;
        if (/^[ugo]$/.test(a.perm)) {
          const src = a.perm === "u" ? (m >> 6) & 7 : a.perm === "g" ? (m >> 3) & 7 : m & 7;
          bits = (src << 6) | (src << 3) | src;
        } else {
          for (const c of a.perm) {
            if (c === "r") bits |= 0o444;
            if (c === "w") bits |= 0o222;
            if (c === "x") bits |= 0o111;
            if (c === "X" && (isDir || (mode & 0o111) !== 0)) bits |= 0o111;
            if (c === "s") bits |= 0o6000;
            if (c === "t" && a.whoAll) bits |= 0o1000;
          }
        }
        bits &= a.who | (a.whoAll ? 0o1000 : 0);
        if (a.op === "+") m |= bits;
        else if (a.op === "-") m &= ~bits;
        else m = (m & ~(a.who & 0o7777)) | bits;
      }
      return m;
    },
  };
}
