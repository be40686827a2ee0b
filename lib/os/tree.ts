/**
 * The one safe way to delete a directory tree: refuse while anything is
 * mounted on or below it (deleting through a leftover bind mount would
 * delete the host's files).
 * @module
 */

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
  const prefix = dir.replace(/\/+$/, "");
  const busy = mountPoints().filter((m) => m === prefix || m.startsWith(prefix + "/"));
  if (busy.length > 0) {
    throw new Error(`Refusing to delete ${dir}: still mounted at ${busy.join(", ")}`);
  }
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}
