/**
 * The one safe way to delete a directory tree: refuse while anything is
 * mounted on or below it (deleting through a leftover bind mount would
 * delete the host's files). Without privileges, what the process may not
 * delete (files of a rootless user's subordinate ids) goes to the helper
 * of lib/os/privileged.ts.
 * @module
 */

import { privilegedHelper } from "./privileged.ts";

/** The mount points listed in /proc/self/mountinfo (unescaped). */
export function mountPoints(): string[] {
  const text = Deno.readTextFileSync("/proc/self/mountinfo");
  return text.split("\n").filter(Boolean).map((line) =>
    line.split(" ")[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)))
  );
}

/**
 * Deletes a directory tree, but only when nothing is mounted on or below it in
 * ctr's mount namespace: deleting through a leftover bind mount would delete
 * host files.
 */
export function removeTree(dir: string): void {
  const prefix = notMounted(dir);
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch (e) {
    removeHarder(prefix, e);
  }
}

/**
 * removeTree() with the deletion on another thread, so that the caller's
 * other work (a container's cgroups released) goes on meanwhile; what
 * removeTree() throws, the promise rejects with.
 */
export async function removeTreeAsync(dir: string): Promise<void> {
  const prefix = notMounted(dir);
  try {
    await Deno.remove(dir, { recursive: true });
  } catch (e) {
    removeHarder(prefix, e);
  }
}

/** `dir` without a trailing slash; throws when anything is mounted on or below it. */
function notMounted(dir: string): string {
  const prefix = dir.replace(/\/+$/, "");
  const busy = mountPoints().filter((m) => m === prefix || m.startsWith(prefix + "/"));
  if (busy.length > 0) {
    throw new Error(`Refusing to delete ${dir}: still mounted at ${busy.join(", ")}`);
  }
  return prefix;
}

/**
 * After a failed recursive removal of `dir` (error `e`): a missing tree is
 * gone already; without privileges, what only a chmod or the helper can
 * delete is deleted so; anything else is thrown.
 */
function removeHarder(dir: string, e: unknown): void {
  if (e instanceof Deno.errors.NotFound) return;
  const helper = privilegedHelper();
  if (!(e instanceof Deno.errors.PermissionDenied) || !helper) throw e;
  // Directories of our own without search or write permission (overlay leaves its
  // work/work at mode 0) need only a chmod; the helper is for what others own.
  if (openOwnDirs(dir)) {
    try {
      Deno.removeSync(dir, { recursive: true });
      return;
    } catch (again) {
      if (!(again instanceof Deno.errors.PermissionDenied)) throw again;
    }
  }
  helper.removeTree(dir);
}

/**
 * Gives u+rwx to the directories below `dir` that this process owns and
 * cannot enter or change; returns whether every directory it met was its
 * own (else only a helper can finish the removal).
 */
function openOwnDirs(dir: string): boolean {
  const uid = Deno.uid();
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(dir);
  } catch {
    return true;
  }
  if (!st.isDirectory) return true;
  if (st.uid !== uid) return false;
  if (((st.mode ?? 0) & 0o700) !== 0o700) Deno.chmodSync(dir, (st.mode ?? 0) & 0o7777 | 0o700);
  let all = true;
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory && !openOwnDirs(`${dir}/${e.name}`)) all = false;
  }
  return all;
}

/**
 * Bytes a tree holds, counted as docker counts a volume's size: the sizes of
 * everything but directories, each inode once (hard links share their data).
 */
export function treeSize(dir: string): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (d: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const p = `${d}/${e.name}`;
      let st: Deno.FileInfo;
      try {
        st = Deno.lstatSync(p);
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) continue;
        throw err;
      }
      if (st.isDirectory) {
        walk(p);
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (st.size === 0 || seen.has(key)) continue;
      seen.add(key);
      total += st.size;
    }
  };
  walk(dir);
  return total;
}
