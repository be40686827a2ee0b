/**
 * User namespace id maps: the host id behind a container id, and the
 * uid_map/gid_map files the parent writes while the child waits.
 * @module
 */

import type { IdMap } from "../config/container.ts";

/** The kernel's overflow id: what an unmapped id reads as. */
export const OVERFLOW_ID = 65534;

/** The host id of a container id under a map (the id itself with no map; 65534 when unmapped). */
export function hostId(map: readonly IdMap[], id: number): number {
  if (map.length === 0) return id;
  const m = map.find((x) => id >= x.container && id < x.container + x.size);
  return m ? m.host + (id - m.container) : OVERFLOW_ID;
}

/** A map as the kernel's file holds it: `container host size` lines. */
export function formatIdMap(map: readonly IdMap[]): string {
  return map.map((m) => `${m.container} ${m.host} ${m.size}`).join("\n") + "\n";
}

/** Parses a uid_map or gid_map text. */
export function parseIdMap(text: string): IdMap[] {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const [container, host, size] = l.split(/\s+/).map(Number);
    return { container, host, size };
  });
}

/** The uid_map or gid_map of a running process (the identity map outside any user namespace). */
export function readIdMap(pid: number, file: "uid_map" | "gid_map"): IdMap[] {
  return parseIdMap(Deno.readTextFileSync(`/proc/${pid}/${file}`));
}

/** Writes a waiting child's uid_map or gid_map (once: the kernel takes one write). */
export function writeIdMap(pid: number, file: "uid_map" | "gid_map", map: readonly IdMap[]): void {
  const text = formatIdMap(map);
  try {
    Deno.writeTextFileSync(`/proc/${pid}/${file}`, text);
  } catch (e) {
    throw new Error(`Cannot write /proc/${pid}/${file} (${text.trim()}): ${(e as Error).message}`);
  }
}
