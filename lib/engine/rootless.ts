/**
 * Rootless mode: ctr run by a user without privileges, and no setuid ctr.
 *
 * - The store and the state are the user's own: `$XDG_DATA_HOME/ctr`
 *   (default `~/.local/share/ctr`) and `$XDG_RUNTIME_DIR/ctr` (default
 *   `/tmp/ctr-UID`, made 0700 and checked to be the user's), as podman
 *   places them; the system's /var/lib/ctr and /run/ctr are never touched.
 * - Every container gets a new user namespace whose root is the user and
 *   whose other ids are the user's subordinate ranges (runtime/userns.ts).
 * - Files that belong to those ids (image layers, what containers wrote)
 *   can only be given their owners or deleted by a process in such a
 *   namespace: a helper, `ctr __userns`, run for the purpose
 *   (rootlessHelper, installed at start).
 * - Cgroups only where a cgroup v2 subtree is delegated to the user.
 * @module
 */

import type { CgroupLayout } from "../cgroups/mod.ts";
import type { OwnedEntry, PrivilegedHelper } from "../os/privileged.ts";
import { removeTree } from "../os/tree.ts";
import {
  type IdMaps,
  rootlessIdMap,
  runInUserNamespace,
  subordinateRanges,
} from "../runtime/userns.ts";

/** Whether this process runs rootless: as any user but root. */
export function isRootless(): boolean {
  return Deno.uid() !== 0;
}

/** Where a rootless user's store and state go. */
export interface RootlessPaths {
  /** The store: images, containers, volumes (ctr's --root). */
  readonly root: string;
  /** The runtime state (ctr's --state-dir). */
  readonly stateDir: string;
}

const absolute = (p: string | undefined) => (p && p.startsWith("/") ? p : undefined);

/**
 * The rootless defaults from the environment (XDG base directories; a
 * relative value is ignored, as the specification says), the user's home
 * and uid. Pure.
 */
export function rootlessPaths(
  env: Readonly<Record<string, string | undefined>>,
  o: { readonly uid: number; readonly home: string },
): RootlessPaths {
  const data = absolute(env.XDG_DATA_HOME) ?? `${o.home.replace(/\/+$/, "")}/.local/share`;
  const runtime = absolute(env.XDG_RUNTIME_DIR);
  return {
    root: `${data.replace(/\/+$/, "")}/ctr`,
    stateDir: runtime ? `${runtime.replace(/\/+$/, "")}/ctr` : `/tmp/ctr-${o.uid}`,
  };
}

/** The user's home: $HOME, else the passwd entry's. */
export function homeOf(uid: number, env: Readonly<Record<string, string | undefined>>): string {
  const home = absolute(env.HOME) ?? passwdEntry(uid)?.home;
  if (!home) throw new Error(`Cannot find the home directory of uid ${uid}: set HOME`);
  return home;
}

/** The passwd entry of a uid: its login name and home. */
function passwdEntry(uid: number): { name: string; home: string } | undefined {
  let text = "";
  try {
    text = Deno.readTextFileSync("/etc/passwd");
  } catch { /* none */ }
  for (const l of text.split("\n")) {
    const f = l.split(":");
    if (f.length >= 7 && f[2] === String(uid)) return { name: f[0], home: f[5] };
  }
  return undefined;
}

/**
 * Makes a directory of the user's (with its parents) and checks it is one:
 * a real directory, owned by `uid`. `private`: mode 0700 too, for a
 * directory others could have made first (/tmp/ctr-UID): another user's
 * directory, a symlink, or one that others may enter is refused.
 */
export function ensureOwnDir(
  dir: string,
  uid: number,
  o: { readonly private?: boolean } = {},
): void {
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new Error(`Cannot create ${dir}: ${(e as Error).message}`);
  }
  const st = Deno.lstatSync(dir);
  if (!st.isDirectory) throw new Error(`Refusing to use ${dir}: it is not a directory`);
  if (st.uid !== uid) {
    throw new Error(`Refusing to use ${dir}: it belongs to uid ${st.uid}, not to uid ${uid}`);
  }
  if (o.private && ((st.mode ?? 0) & 0o077) !== 0) {
    throw new Error(
      `Refusing to use ${dir}: its mode is 0${((st.mode ?? 0) & 0o777).toString(8)}, ` +
        "others may enter it (chmod 700 it)",
    );
  }
}

/**
 * Makes the store and the state directory of a rootless user (0700 when
 * made here: another user can neither list nor touch them) and checks that
 * they are the user's; the /tmp fallback of the state must be private too.
 */
export function prepareRootlessDirs(p: RootlessPaths, uid: number): void {
  ensureOwnDir(p.root, uid);
  ensureOwnDir(p.stateDir, uid, { private: p.stateDir === `/tmp/ctr-${uid}` });
}

let maps: IdMaps | undefined;

/** A short note for the user, shown once per state directory (a file marks it shown). */
function sayOnce(stateDir: string | undefined, key: string, text: string): void {
  if (stateDir) {
    try {
      Deno.writeTextFileSync(`${stateDir}/.said-${key}`, "", { createNew: true });
    } catch {
      return; // said before, or no state directory to remember it in
    }
  }
  console.error(`ctr: ${text}`);
}

/**
 * The maps of the user namespace of this user's containers and helpers:
 * root is the user, ids from 1 are the user's subordinate ranges. Without a
 * range (no /etc/subuid or /etc/subgid entry) the user's own id alone,
 * which ctr says once.
 */
export function rootlessIdMaps(stateDir?: string): IdMaps {
  if (maps) return maps;
  const uid = Deno.uid()!, gid = Deno.gid()!;
  const name = passwdEntry(uid)?.name;
  const read = (f: string) => {
    try {
      return Deno.readTextFileSync(f);
    } catch {
      return "";
    }
  };
  const subuid = subordinateRanges(read("/etc/subuid"), { name, id: uid });
  const subgid = subordinateRanges(read("/etc/subgid"), { name, id: uid });
  if (subuid.length === 0 || subgid.length === 0) {
    const who = name ?? `uid ${uid}`;
    sayOnce(
      stateDir,
      "single-id",
      `${who} has no subordinate ${subuid.length === 0 ? "uids" : "gids"} in /etc/sub${
        subuid.length === 0 ? "uid" : "gid"
      }: containers get a single-id user namespace (root only; files of other owners ` +
        `become the user's). Add a range: usermod --add-subuids 100000-165535 ` +
        `--add-subgids 100000-165535 ${who}`,
    );
  }
  maps = { uid: rootlessIdMap(uid, subuid), gid: rootlessIdMap(gid, subgid) };
  return maps;
}

/**
 * The helper of a rootless ctr (see lib/os/privileged.ts): `self` is the
 * command line that runs this ctr again; it runs as `ctr __userns OP ...`
 * as root of a user namespace with the user's maps.
 */
export function rootlessHelper(self: readonly string[], stateDir: string): PrivilegedHelper {
  const run = (args: string[]) => {
    const r = runInUserNamespace([...self, "__userns", ...args], rootlessIdMaps(stateDir));
    if (r.code !== 0) {
      const why = r.stderr.trim().split("\n").filter(Boolean).pop() ?? `exit ${r.code}`;
      throw new Error(`The helper in the user namespace failed (ctr __userns ${args[0]}): ${why}`);
    }
    return r.stderr;
  };
  return {
    removeTree(dir) {
      run(["rm", dir]);
    },
    chown(root, entries) {
      const list = `${root}.owners.json`;
      Deno.writeTextFileSync(list, JSON.stringify(entries), { mode: 0o600 });
      try {
        return run(["chown", root, list]).split("\n").map((l) => l.replace(/^ctr: warning: /, ""))
          .filter(Boolean);
      } finally {
        Deno.removeSync(list);
      }
    },
  };
}

/**
 * `ctr __userns OP ARGS`, run by rootlessHelper as root of a user namespace
 * made for it: `rm DIR` deletes a tree; `chown ROOT LIST` gives the files of
 * LIST (JSON OwnedEntry[]) below ROOT their owners, setting again the modes
 * a chown clears, and prints one warning line for ids outside the
 * namespace (those files keep the user's). Returns the exit code.
 */
export async function usernsHelperMain(args: readonly string[]): Promise<number> {
  const [op, ...rest] = args;
  if (op === "rm" && rest.length === 1) {
    removeTree(rest[0]);
    return 0;
  }
  if (op === "chown" && rest.length === 2) {
    const [root, list] = rest;
    // Loaded here: the layer code (and its tar parser) is not for every command that imports this.
    const { applyOwners } = await import("../image/layer.ts");
    const { kept, unmapped: ids } = applyOwners(
      root,
      JSON.parse(Deno.readTextFileSync(list)) as OwnedEntry[],
    );
    if (kept > 0) {
      console.error(
        `ctr: warning: ${kept} file(s) keep root's owner: id(s) ${ids.slice(0, 5).join(", ")}${
          ids.length > 5 ? ", ..." : ""
        } are outside this user's subordinate ranges`,
      );
    }
    return 0;
  }
  throw new Error(`Unknown helper operation: ${args.join(" ")}`);
}

/**
 * Why a rootless container cannot have a cgroup here, or undefined when
 * its own cgroup v2 is delegated to the user (systemd's user@.service
 * delegation, `systemd-run --user --scope`, or a directory the user owns):
 * then containers go below it as for root.
 */
export function undelegatedReason(
  layout: CgroupLayout | undefined,
  uid: number,
): string | undefined {
  if (!layout) return "this host has no cgroup filesystem";
  if (layout.version !== "v2" || !layout.unified) {
    return "rootless containers get cgroups only from a delegated cgroup v2 subtree, " +
      "and this host has cgroup v1 controllers";
  }
  const own = layout.unified.own.replace(/\/+$/, "");
  for (const f of [own, `${own}/cgroup.procs`, `${own}/cgroup.subtree_control`]) {
    let owner: number;
    try {
      owner = Deno.statSync(f).uid ?? -1;
    } catch {
      owner = -1;
    }
    if (owner !== uid) {
      return `ctr's cgroup ${own} is not delegated to uid ${uid} (${f} is not its): ` +
        "run ctr in a delegated cgroup, e.g. under systemd-run --user --scope";
    }
  }
  return undefined;
}
